"""Concurrent use: HTTP reads while another process ingests into the same data directory; two ingests."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykg.api.errors import IngestLocked
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from tests.conftest import HashingEncoder
from tests.reliability.helpers import batch_files, per_document_counts, spawn_ingest, wait_ready

QUERIES = ["科技成果转化", "营商环境", "行政许可", "简政放权", "知识产权保护", "政府工作"]


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, int]]:
    kb = KnowledgeBase(tmp_path_factory.mktemp("reference"), encoder=HashingEncoder())
    assert kb.ingest(batch_files(corpus)).ok
    counts = per_document_counts(kb)
    kb.close()
    return counts


@pytest.mark.slow
def test_reads_during_ingest_in_another_process(corpus: Path, tmp_path: Path, reference: dict[str, dict[str, int]]) -> None:
    files = batch_files(corpus)
    data = tmp_path / "data"
    kb = KnowledgeBase(data, encoder=HashingEncoder())
    assert kb.ingest(files[:2]).ok
    client = TestClient(create_app(kb))
    errors: list[str] = []
    requests = 0
    stop = threading.Event()
    lock = threading.Lock()

    def check(resp: Any, what: str) -> Any:
        if resp.status_code != 200:
            errors.append(f"{what}: {resp.status_code} {resp.text[:200]}")
            return None
        return resp.json()

    def reader(n: int) -> None:
        nonlocal requests
        i = n
        while not stop.is_set():
            i += 1
            try:
                check(client.get("/search", params={"q": QUERIES[i % len(QUERIES)], "k": 5}), "search")
                docs = check(client.get("/documents"), "documents") or []
                for d in docs:
                    if d["measures"] != reference[d["id"]]["measures"]:
                        errors.append(f"half-ingested document seen: {d['id']} {d['measures']} measures")
                for doc_id, counts in per_document_counts(kb).items():
                    if counts != reference[doc_id]:
                        errors.append(f"half-ingested document seen in the store: {doc_id} {counts}")
                regs = check(client.get("/regulations"), "regulations") or []
                if regs:
                    reg = regs[i % len(regs)]["id"]
                    check(client.get(f"/regulations/{reg}/measures"), "measures_for")
                with lock:
                    requests += 4
            except Exception as exc:  # a raised exception is a failure too
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):  # the batch, then again on a second data dir copy's worth of "unchanged"
            proc = spawn_ingest(data, files)
            wait_ready(proc)
            out, err = proc.communicate(timeout=120)
            assert out.strip() == "done", err[-2000:]
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, f"{len(errors)} errors, first: {errors[:5]}"
    assert requests > 20
    assert per_document_counts(kb) == reference
    client.close()
    kb.close()


def test_second_ingest_in_another_process_is_locked_out(corpus: Path, tmp_path: Path) -> None:
    files = batch_files(corpus)[:1]
    data = tmp_path / "data"
    kb = KnowledgeBase(data, encoder=HashingEncoder())
    outcome: dict[str, str] = {}

    def run_child(name: str, i: int, n: int) -> None:
        if i == 0 and not outcome:  # we hold the ingest lock now
            proc = spawn_ingest(data, files)
            wait_ready(proc)
            out, err = proc.communicate(timeout=60)
            outcome["stdout"], outcome["stderr"] = out, err

    assert kb.ingest(files, progress=run_child).ok
    assert "done" not in outcome["stdout"]
    assert "IngestLocked" in outcome["stderr"]
    assert "another ingest is running on this data directory" in outcome["stderr"]
    kb.close()


def test_ingest_and_upload_while_another_process_holds_the_lock(corpus: Path, tmp_path: Path) -> None:
    files = batch_files(corpus)[:1]
    data = tmp_path / "data"
    proc = spawn_ingest(data, files, pause=True)
    try:
        wait_ready(proc)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "locked"
        kb = KnowledgeBase(data, encoder=HashingEncoder())
        with pytest.raises(IngestLocked, match="another ingest"):
            kb.ingest(files)
        client = TestClient(create_app(kb, api_key="k" * 20))
        resp = client.post(
            "/documents", headers={"X-API-Key": "k" * 20},
            files={"file": ("note.txt", "关于推进法治政府建设的报告\n一、加强行政执法。".encode(), "text/plain")},
        )
        assert resp.status_code == 409, resp.text
        assert "another ingest" in resp.json()["detail"]
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.communicate(timeout=60)[0].strip() == "done"
        assert kb.ingest(files).ok  # the lock is free again
        client.close()
        kb.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    shutil.rmtree(data, ignore_errors=True)
