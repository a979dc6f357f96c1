"""Shared pieces of the reliability tests: the batch, ingest and removal child processes, consistency checks."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from policykg.api.kb import KnowledgeBase
from policykg.search.local_index import LocalIndex
from tests.conftest import CORPUS

REPO = Path(__file__).resolve().parents[2]

BATCH_REPORTS = tuple(f"reports/gov-work/state-council-gwr-{y}.txt" for y in range(2014, 2020))
BATCH_REGULATIONS = ("regulations/kejijinbufa-2021.md", "regulations/xingzheng-xuke-fa-2019.md")


def batch_files(corpus: Path = CORPUS) -> list[Path]:
    """6 government work reports and 2 regulations."""
    return [corpus / r for r in (*BATCH_REPORTS, *BATCH_REGULATIONS)]


# The child prints "ready" once imports are done (so kill delays measure the ingest itself), then "done".
_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from policykg.api.kb import KnowledgeBase
    from tests.conftest import HashingEncoder
    kb = KnowledgeBase(Path({data!r}), encoder=HashingEncoder())
    def pause(name, i, n):
        if {pause!r} and i == 0:
            print("locked", flush=True)
            sys.stdin.readline()
    print("ready", flush=True)
    report = kb.ingest([Path(p) for p in {files!r}], progress=pause)
    print("done" if report.ok else "failed " + repr(report.failed), flush=True)
    """
)


def spawn_ingest(data: Path, files: list[Path], *, pause: bool = False) -> subprocess.Popen[str]:
    """``KnowledgeBase(data).ingest(files)`` with the stand-in encoder, in a child process.

    With ``pause`` the child prints "locked" once it holds the ingest lock and waits for a line on stdin.
    """
    code = _CHILD.format(repo=str(REPO), data=str(data), files=[str(f) for f in files], pause=pause)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=REPO,
    )


# The removal child prints "ready" once the knowledge base is open, then "done" with the ids removed.
_REMOVE_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from pathlib import Path
    from policykg.api.kb import KnowledgeBase
    from tests.conftest import HashingEncoder
    kb = KnowledgeBase(Path({data!r}), encoder=HashingEncoder())
    if {stretch!r}:  # hold the transaction open longer, so that kills land inside it too
        import time
        delete = kb.store._delete
        def slow_delete(con, doc_id):
            time.sleep({stretch!r})
            delete(con, doc_id)
            time.sleep({stretch!r})
        kb.store._delete = slow_delete
    print("ready", flush=True)
    report = kb.remove({refs!r})
    print("done", *report.removed, flush=True)
    """
)


def spawn_remove(data: Path, refs: list[str], *, stretch: float = 0.0) -> subprocess.Popen[str]:
    """``KnowledgeBase(data).remove(refs)`` with the stand-in encoder, in a child process.

    ``stretch``: seconds slept before and after each document's deletion, inside the removal's transaction.
    """
    code = _REMOVE_CHILD.format(repo=str(REPO), data=str(data), refs=refs, stretch=stretch)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=REPO,
    )


def kill_at_random(proc: subprocess.Popen[str], rng: random.Random, seconds: float) -> bool:
    """Once the child is ready, SIGKILL it at a random moment within ``seconds`` (if still running); whether it was killed."""
    wait_ready(proc)
    time.sleep(rng.uniform(0.0, seconds))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return killed


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "ready", f"child did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"


def sql(kb: KnowledgeBase, query: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows of the store's database read directly, in one read transaction (what the checks inspect)."""
    con = sqlite3.connect(kb.data_dir / "policykg.sqlite", timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def per_document_counts(kb: KnowledgeBase) -> dict[str, dict[str, int]]:
    """For each stored document: its measures, passages, articles, sections and indicators (one snapshot)."""
    tables = ("measures", "passages", "articles", "sections", "indicators")
    counts = ", ".join(f"(SELECT count(*) FROM {t} WHERE doc_id = d.id) AS {t}" for t in tables)
    return {r["id"]: {t: r[t] for t in tables} for r in sql(kb, f"SELECT d.id, {counts} FROM documents d")}


def check_consistent(kb: KnowledgeBase, reference: dict[str, dict[str, int]]) -> None:
    """Every stored document is complete, the SQLite file is sound, and indexes agree with the graph."""
    assert sql(kb, "PRAGMA integrity_check")[0][0] == "ok"
    assert not sql(kb, "PRAGMA foreign_key_check")
    for doc_id, counts in per_document_counts(kb).items():
        assert doc_id in reference, f"unknown document {doc_id} in the store"
        assert counts == reference[doc_id], f"{doc_id} half-written: {counts} != {reference[doc_id]}"
    orphans = sql(kb,
        "SELECT (SELECT count(*) FROM measures WHERE doc_id NOT IN (SELECT id FROM documents)) + "
        "(SELECT count(*) FROM passages WHERE doc_id NOT IN (SELECT id FROM documents)) + "
        "(SELECT count(*) FROM links WHERE measure_id NOT IN (SELECT id FROM measures)) AS n"
    )[0]["n"]
    assert orphans == 0
    kb.searcher.refresh()
    passage_ids = {r["id"] for r in sql(kb, "SELECT id FROM passages")}
    with_vector = {r["id"] for r in sql(kb, "SELECT id FROM passages WHERE vector IS NOT NULL")}
    assert with_vector == passage_ids, "a passage without its vector"
    index = kb.searcher.vectors
    assert isinstance(index, LocalIndex)
    faiss_ids = set(index.vectors.ids.tolist()) if index.vectors is not None else set()
    bm25_ids = set(index.bm25.ids.tolist()) if index.bm25 is not None else set()
    assert faiss_ids == passage_ids, "faiss and the store disagree"
    assert bm25_ids == passage_ids, "BM25 and the store disagree"
    if index.vectors is not None:
        assert index.vectors.index.ntotal == len(passage_ids)  # type: ignore[attr-defined]


# tables whose rows come from one document, by its doc_id column (links and measure_units hang off its measures)
_DOCUMENT_ROWS = (
    "sections", "measures", "articles", "unit_sources", "unit_mentions", "indicators", "citations", "passages", "regulation_sources",
)


def removal_state(kb: KnowledgeBase, doc_id: str, reference: dict[str, dict[str, int]]) -> str:
    """"present" (whole, no tombstone) or "removed" (no row left anywhere, a tombstone); anything else fails."""
    stored = bool(sql(kb, "SELECT 1 FROM documents WHERE id=?", (doc_id,)))
    tombstone = bool(sql(kb, "SELECT 1 FROM removed_documents WHERE id=?", (doc_id,)))
    if stored:
        assert not tombstone, f"{doc_id} is stored and has a tombstone"
        assert per_document_counts(kb)[doc_id] == reference[doc_id], f"{doc_id} half-removed"
        return "present"
    assert tombstone, f"{doc_id} is gone without a tombstone"
    for table in _DOCUMENT_ROWS:
        assert not sql(kb, f"SELECT 1 FROM {table} WHERE doc_id=? LIMIT 1", (doc_id,)), f"{doc_id} left rows in {table}"
    stray = sql(kb,
        "SELECT (SELECT count(*) FROM measure_units WHERE measure_id NOT IN (SELECT id FROM measures)) + "
        "(SELECT count(*) FROM links WHERE regulation_id NOT IN (SELECT id FROM regulations)) + "
        "(SELECT count(*) FROM links WHERE article_id IS NOT NULL AND article_id NOT IN (SELECT id FROM articles)) + "
        "(SELECT count(*) FROM units WHERE id NOT IN (SELECT unit_id FROM unit_sources)) + "
        "(SELECT count(*) FROM regulations WHERE id NOT IN (SELECT regulation_id FROM regulation_sources)) AS n"
    )[0]["n"]
    assert stray == 0, f"{stray} rows left behind by the removal of {doc_id}"
    return "removed"
