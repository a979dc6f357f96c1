"""The Ray ingest engine: the same store as the local engine, bad files as lines, re-ingest unchanged."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from policykg.api.errors import KnowledgeBaseError
from policykg.api.kb import KnowledgeBase
from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import DocumentStep, Known
from policykg.ingest.ray_engine import embed_with_ray
from policykg.search.encoders import make_encoder
from policykg.search.model_cache import default_cache_dir
from policykg.search.tokenize import Tokenizer
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")

# Everything the store holds that must not depend on the engine (ordered, so lists compare).
TABLES = {
    "documents": "SELECT id, fingerprint, title, year, doc_type, issuer, published, path FROM documents ORDER BY id",
    "measures": "SELECT id FROM measures ORDER BY id",
    "regulations": "SELECT id, key, name, kind, doc_id, topic, jurisdiction FROM regulations ORDER BY id",
    "articles": 'SELECT id, regulation_id, doc_id, number, label, chapter, start, "end" FROM articles ORDER BY id',
    "units": "SELECT id, name, kind, parent_id FROM units ORDER BY id",
    "indicators": 'SELECT id, measure_id, doc_id, name, value, unit, start, "end" FROM indicators ORDER BY id',
    "links": 'SELECT measure_id, regulation_id, method, article, quote, start, "end" FROM links '
             'ORDER BY measure_id, regulation_id, method, start, "end", article, quote',
}


def _ray_processes(ray: Any, psutil: Any) -> list[Any]:
    """The running Ray's own processes (GCS, raylet, agents) and their children (the workers)."""
    procs: list[Any] = []
    node = ray._private.worker._global_node
    for infos in node.all_processes.values() if node is not None else ():
        for info in infos:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(info.process.pid)
                procs += [root, *root.children(recursive=True)]
    return procs


def _record(procs: list[Any]) -> list[Path]:
    """Write the PIDs where ``.ci/run`` stops them if the run crashes (``$POLICYKG_TEST_PIDS``)."""
    pids = os.environ.get("POLICYKG_TEST_PIDS")
    if not pids:
        return []
    Path(pids).mkdir(parents=True, exist_ok=True)
    files = [Path(pids) / f"{p.pid}.pid" for p in procs]
    for f, p in zip(files, procs, strict=True):
        with contextlib.suppress(Exception):
            f.write_text(f"ray {p.name()}")
    return files


def _stop_leftovers(procs: list[Any], recorded: list[Path], psutil: Any) -> None:
    """After ``ray.shutdown()``: kill, by PID, whatever of these is still running."""
    _, alive = psutil.wait_procs(procs, timeout=10)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    for f in recorded:
        f.unlink(missing_ok=True)


def _ray_env(mp: pytest.MonkeyPatch, home: Path) -> Any:
    """Import Ray set to stay on 127.0.0.1 (it reads the variable at import) with a temporary HOME."""
    mp.setenv("POLICYKG_CACHE", str(default_cache_dir()))  # keep the converted model where it is
    mp.setenv("HOME", str(home))
    mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    mp.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)  # if Ray was imported before
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    return ray


@pytest.fixture(scope="module")
def ray_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One temporary HOME for every Ray of this module: Ray keeps its auth token (~/.ray/auth_token)
    per process, and a Ray started later in the process under another HOME cannot find it."""
    return tmp_path_factory.mktemp("ray-home")


@pytest.fixture(scope="module")
def local_ray(ray_home: Path) -> Iterator[Any]:
    """A Ray of 2 CPUs on 127.0.0.1 for this module, with its own HOME and a short temp dir; stopped
    with ``ray.shutdown()``, then by PID whatever of it is left."""
    psutil = pytest.importorskip("psutil")
    mp = pytest.MonkeyPatch()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    recorded: list[Path] = []
    ray: Any = None
    try:
        ray = _ray_env(mp, ray_home)
        for attempt in range(2):  # the raylet has a fixed 30 s to register: a loaded machine can miss it once
            try:
                ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False)
                break
            except Exception:
                ray.shutdown()
                if attempt:
                    raise
        recorded = _record(_ray_processes(ray, psutil))  # the workers exit with the raylet
        yield ray
    finally:
        if ray is not None:
            procs = _ray_processes(ray, psutil) if ray.is_initialized() else []
            ray.shutdown()
            _stop_leftovers(procs, recorded, psutil)
        mp.undo()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _rows(kb: KnowledgeBase, sql: str) -> list[sqlite3.Row]:
    """Rows of the store's database, read directly (the test compares what each engine wrote)."""
    con = sqlite3.connect(kb.data_dir / "policykg.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _tables(kb: KnowledgeBase) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [tuple(r) for r in _rows(kb, sql)] for name, sql in TABLES.items()}


def _passages(kb: KnowledgeBase) -> dict[tuple[str, int, int], sqlite3.Row]:
    rows = _rows(kb, 'SELECT doc_id, start, "end", text, embed_text, section, article, tokens, vector FROM passages')
    return {(r["doc_id"], r["start"], r["end"]): r for r in rows}


@pytest.mark.slow
def test_a_ray_started_by_the_engine_stays_on_loopback_and_is_stopped(
    tmp_path: Path, ray_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without a Ray in the process, the engine starts one on 127.0.0.1 and shuts it down at the end
    (before the module's Ray starts: this test does not use it). No file needs the model here."""
    psutil = pytest.importorskip("psutil")
    temp_root = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths
    monkeypatch.setenv("RAY_TMPDIR", temp_root)
    ray = _ray_env(monkeypatch, ray_home)
    bad = tmp_path / "garbage.docx"
    bad.write_bytes(os.urandom(512))
    seen: list[tuple[Path, Any]] = []
    procs: list[Any] = []
    recorded: list[Path] = []
    try:
        step = DocumentStep(Tokenizer.from_regulations)
        for path, result in embed_with_ray([(bad, Metadata())], step, Known(), make_encoder):
            seen.append((path, result))
            procs = _ray_processes(ray, psutil)
            recorded = _record(procs)
            assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
            addresses = {c.laddr.ip for p in procs for c in _listening(p, psutil)}
            assert addresses and addresses <= {"127.0.0.1", "::ffff:127.0.0.1"}, addresses
        assert len(seen) == 1 and seen[0][0] == bad and str(seen[0][1]).startswith(f"{bad.name}: ")
        assert not ray.is_initialized()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        _stop_leftovers(procs, recorded, psutil)
        shutil.rmtree(temp_root, ignore_errors=True)


def _listening(p: Any, psutil: Any) -> list[Any]:
    with contextlib.suppress(psutil.Error):
        return [c for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    return []


@pytest.mark.slow
def test_ray_engine_stores_what_the_local_engine_stores(local_ray: Any, corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.docx"
    bad.write_bytes(os.urandom(2048))
    files = [corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS), bad]
    manifest = corpus / "manifest.csv"

    # BM25 tokens depend only on the store's and the document's regulation names (a Tokenizer object,
    # no process-global jieba state): the two engines need no common warm-up
    local_kb, ray_kb = KnowledgeBase(tmp_path / "local"), KnowledgeBase(tmp_path / "ray")
    t0 = time.perf_counter()
    local = local_kb.ingest(files, manifest=manifest)
    t1 = time.perf_counter()
    distributed = ray_kb.ingest(files, manifest=manifest, engine="ray")
    t2 = time.perf_counter()
    print(f"ingest of {len(files)} files: local {t1 - t0:.1f} s, ray {t2 - t1:.1f} s")

    assert len(local.added) == 4 and len(local.failed) == 1 and local.failed[0].startswith(f"{bad.name}: ")
    assert sorted(distributed.added) == sorted(local.added)
    assert distributed.failed == local.failed
    assert local_ray.is_initialized()  # the caller's Ray is reused, not shut down
    assert local_ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")

    a, b = _tables(local_kb), _tables(ray_kb)
    for name in TABLES:
        assert b[name] == a[name], name
    assert len(a["measures"]) > 20 and len(a["links"]) > 0 and len(a["articles"]) > 50

    pa, pb = _passages(local_kb), _passages(ray_kb)
    assert pa.keys() == pb.keys() and len(pa) > 100
    for key, ra in pa.items():
        rb = pb[key]
        fields = ("text", "embed_text", "section", "article", "tokens")
        assert [rb[f] for f in fields] == [ra[f] for f in fields], key
        va, vb = np.frombuffer(ra["vector"], np.float32), np.frombuffer(rb["vector"], np.float32)
        assert va.shape == vb.shape == (384,)
        # the same model on both engines; the int8 encoder scales activations per batch, and the local engine
        # batches several documents' passages together while each Ray actor encodes one document
        assert float(va @ vb) >= 0.999, key

    again = ray_kb.ingest(files, manifest=manifest, engine="ray")
    assert sorted(again.unchanged) == sorted(str(f) for f in files[:4])
    assert again.added == again.replaced == [] and again.failed == local.failed
    local_kb.close()
    ray_kb.close()


def test_without_ray_the_engine_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    doc = tmp_path / "a.txt"
    doc.write_text("天津市科学技术局2023年法治政府建设情况报告\n一、加强行政执法。\n", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "data")
    with pytest.raises(KnowledgeBaseError, match=r"pip install 'policykg\[ray\]'"):
        kb.ingest([doc], engine="ray")
    assert kb.documents() == []
    kb.close()


def test_an_address_nothing_listens_on_fails_fast(tmp_path: Path) -> None:
    """A wrong --address is a one-line error in seconds (ray.init alone waits for minutes)."""
    pytest.importorskip("ray")
    from bench.servers import free_port

    doc = tmp_path / "a.txt"
    doc.write_text("天津市科学技术局2023年法治政府建设情况报告\n一、加强行政执法。\n", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "data")
    started = time.perf_counter()
    with pytest.raises(KnowledgeBaseError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:\d+"):
        kb.ingest([doc], engine="ray", address=f"127.0.0.1:{free_port()}")
    assert time.perf_counter() - started < 30
    with pytest.raises(KnowledgeBaseError, match="expected HOST:PORT"):
        kb.ingest([doc], engine="ray", address="no-port-here")
    assert kb.documents() == []
    kb.close()
