"""The scaled-out configuration (Ray, Milvus, Oxigraph, sharded BM25) against the embedded one, in one run.

    python bench/scale.py --store /tmp/fresh-corpus                    # ~25 min on 2 cores
    python bench/scale.py --store /tmp/fresh-corpus --quick            # smoke run, ~2 min
    python bench/scale.py --store /tmp/fresh-corpus --sizes 100000 --copies 1,10 --out scale.json

``--store`` is a data directory with the corpus ingested; it is copied first and only the copy is
opened. Measured, each part in its own subprocess (so RSS figures are per part):

1. a synthetic corpus grown from the real one (``--grow`` copies of every report and regulation:
   issuer and years relabelled, numbers changed, sentences of a paragraph shuffled or dropped);
2. ingest throughput of ``--ingest-docs`` of those files: local engine against ``engine="ray"``,
   and Ray's startup (ray.init/ray.shutdown on loopback) on its own;
3. vector search at ``--sizes`` passages (real vectors + Gaussian noise): faiss as the product builds
   it (exact up to 100k, HNSW beyond) against Milvus Lite; recall@10 against exact numpy search;
4. SPARQL on the graph grown ``--copies`` times (disjoint URI copies): rdflib in memory against an
   Oxigraph server (loaded through the Graph Store protocol); x100 on Oxigraph only if x10 loaded fast;
5. BM25 (bm25s) at ``--sizes`` synthetic passages, one index against 4 shards (merged top-k);
6. a sizing table for 10M passages extrapolated from the figures of this run.

Only 127.0.0.1 is contacted. Every server and Ray process is started here and stopped by PID, also
on errors. The machine is shared and noisy: compare the ratios of one run, not runs.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import functools
import gc
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HERE = Path(__file__).resolve().parent
CORPUS = Path(os.environ.get("POLICYKG_CORPUS", ROOT.parent / "shared" / "corpus"))
ID_BASE = "https://policykg.org/id/"
GRAPH_BASE = "https://policykg.org/graph/"
K = 50  # neighbours per vector query
SHARDS = 4
TARGET = 10_000_000  # passages of the sizing table
NODE_RAM_GIB = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)  # this machine: the "nodes" unit
NODE_CORES = os.cpu_count() or 1
USABLE = 0.75  # share of a node's RAM a service may take


# ------------------------------------------------------------------------------------------ helpers


def pin_threads(threads: int) -> None:
    """Pin torch, faiss and BLAS/OpenMP to ``threads`` cores (the env is inherited by subprocesses)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    with contextlib.suppress(ImportError):
        import faiss

        faiss.omp_set_num_threads(threads)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(threads)


def rss_mb(pid: int | None = None, children: bool = False) -> float:
    """Resident memory of a process (this one by default), optionally with its children, in MiB."""
    import psutil

    try:
        p = psutil.Process(pid)
        total = p.memory_info().rss
        if children:
            for c in p.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += c.memory_info().rss
    except psutil.Error:
        return float("nan")
    return float(total) / 2**20


def trim() -> None:
    """Collect garbage and hand freed heap back to the OS, so that RSS differences measure what is alive."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def pct(samples: Sequence[float]) -> dict[str, float]:
    """p50/p99 in ms of samples in seconds."""
    arr = np.asarray(samples, dtype=np.float64) * 1000
    if not len(arr):
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "n": 0}
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)), "n": len(arr)}


def timed(
    items: Sequence[Any], run: Callable[[Any], Any], warmup: int = 2, budget_s: float = 1e9, min_n: int = 3, out: list[Any] | None = None,
) -> dict[str, float]:
    """p50/p99 of ``run`` over ``items`` one at a time, after ``warmup`` untimed calls; stops after
    ``budget_s`` seconds once ``min_n`` samples are in. The answers are appended to ``out``."""
    for it in items[:warmup]:
        run(it)
    samples: list[float] = []
    start = time.perf_counter()
    for it in items:
        t0 = time.perf_counter()
        answer = run(it)
        samples.append(time.perf_counter() - t0)
        if out is not None:
            out.append(answer)
        if len(samples) >= min_n and time.perf_counter() - start > budget_s:
            break
    return pct(samples)


def load_queries(n: int | None = None) -> list[str]:
    with (HERE / "data" / "queries.jsonl").open(encoding="utf-8") as fh:
        qs = [json.loads(line)["q"] for line in fh if line.strip()]
    return qs[:n] if n else qs


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def record_pids(pids: Sequence[int], name: str) -> None:
    """Write PIDs where the main process stops them if a worker dies ($POLICYKG_TEST_PIDS)."""
    import psutil

    d = os.environ.get("POLICYKG_TEST_PIDS")
    if not d:
        return
    Path(d).mkdir(parents=True, exist_ok=True)
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            (Path(d) / f"{pid}.pid").write_text(f"{name} {psutil.Process(pid).create_time()}")


def stop_pids(pids: dict[int, float]) -> list[int]:
    """SIGTERM then SIGKILL each PID (with its creation time, so a reused PID is left alone); the stopped ones."""
    import psutil

    alive = []
    for pid, created in pids.items():
        with contextlib.suppress(psutil.Error):
            p = psutil.Process(pid)
            if abs(p.create_time() - created) < 0.01 and p.status() != psutil.STATUS_ZOMBIE:
                p.terminate()
                alive.append(p)
    _, still = psutil.wait_procs(alive, timeout=10)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(still, timeout=10)
    return [p.pid for p in alive]


class ChildWatch:
    """Remember every descendant process of this one while running (Ray's processes), to stop leftovers by PID."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _scan(self) -> None:
        import psutil

        new = []
        for c in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if c.pid not in self.seen:
                    self.seen[c.pid] = c.create_time()
                    new.append(c.pid)
        record_pids(new, self.name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self._scan()
            self._stop.wait(0.2)

    def __enter__(self) -> ChildWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def leftovers(self) -> list[int]:
        """Stop the descendants seen that still run (after ray.shutdown there should be none)."""
        return stop_pids(self.seen)


# ------------------------------------------------------------------------------ 1. synthetic corpus

_YEAR = re.compile(r"(?<![\d.])((?:19|20)\d{2})(?=\s*年)")
_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")
_SENTENCE = re.compile(r"(?<=[。！？；])")


def virtual_issuer(issuer: str, copy: int) -> str:
    """深圳市人民政府 → 虚拟市N人民政府, 天津市科学技术局 → 虚拟市N科学技术局, 中华人民共和国国务院 → 虚拟省N人民政府."""
    if "国务院" in issuer:
        return f"虚拟省{copy}人民政府"
    m = re.match(r"(.+?市)(.*)", issuer)
    return f"虚拟市{copy}{m.group(2)}" if m else f"虚拟{copy}{issuer}"


def shift_years(text: str, shift: int) -> str:
    return _YEAR.sub(lambda m: str(int(m.group(1)) + shift), text)


def perturb_text(text: str, rng: random.Random, shift: int) -> str:
    """Years (19xx/20xx) + ``shift``; other numbers from 100 up x U(0.7, 1.3) (smaller ones are list markers and
    counts); in paragraphs of 3+ sentences the sentences after the first are shuffled (p 0.3) and one is
    dropped (p 0.2). The first sentence (a heading, 第N条 …) stays first."""

    def number(m: re.Match[str]) -> str:
        s = m.group(0)
        if "." in s:
            decimals = len(s.split(".")[1])
            return f"{float(s) * rng.uniform(0.7, 1.3):.{decimals}f}"
        if len(s) == 4 and s[:2] in ("19", "20"):
            return str(int(s) + shift)
        if int(s) < 100:
            return s
        return str(max(1, round(int(s) * rng.uniform(0.7, 1.3))))

    out = []
    for line in text.split("\n"):
        line = _NUMBER.sub(number, line)
        parts = [p for p in _SENTENCE.split(line) if p]
        if len(parts) >= 3:
            head, rest = parts[0], parts[1:]
            if rng.random() < 0.3:
                rng.shuffle(rest)
            if rng.random() < 0.2 and len(rest) > 1:
                rest.pop(rng.randrange(len(rest)))
            line = head + "".join(rest)
        out.append(line)
    return "\n".join(out)


def grow_corpus(corpus: Path, out: Path, grow: int, seed: int = 0) -> tuple[Path, list[dict[str, str]]]:
    """``grow`` relabelled, perturbed copies of every manifest row as UTF-8 .txt files + a manifest CSV."""
    with (corpus / "manifest.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(seed)
    made: list[dict[str, str]] = []
    for c in range(1, grow + 1):
        (out / f"c{c:03d}").mkdir(parents=True, exist_ok=True)
        for row in rows:
            text = (corpus / row["path"]).read_text(encoding="utf-8")
            title, issuer = row["title"], row.get("issuer") or ""
            if issuer:
                new_issuer = virtual_issuer(issuer, c)
                text = text.replace(issuer, new_issuer)
                title = title.replace(issuer, new_issuer).replace("国务院", new_issuer.removesuffix("人民政府"))
                for place in ("深圳市", "天津市", "深圳", "天津"):
                    text, title = text.replace(place, f"虚拟市{c}"), title.replace(place, f"虚拟市{c}")
                issuer = new_issuer
            if row["doc_type"] == "regulation":  # a local regulation of a virtual city: a distinct name
                new_title = f"虚拟市{c}" + title.removeprefix("中华人民共和国")
                text, title = text.replace(title, new_title), new_title
            text = perturb_text(text, rng, c)
            title = shift_years(title, c)
            rel = f"c{c:03d}/{Path(row['path']).stem}.txt"
            (out / rel).write_text(text, encoding="utf-8")
            year = str(int(row["year"]) + c) if (row.get("year") or "").strip() else ""
            published = str(int(row["published"]) + c) if (row.get("published") or "").strip().isdigit() else ""
            made.append({"path": rel, "doc_type": row["doc_type"], "title": title, "issuer": issuer, "year": year, "published": published})
    manifest = out / "manifest.csv"
    with manifest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "doc_type", "title", "issuer", "year", "published"])
        w.writeheader()
        w.writerows(made)
    return manifest, made


# ------------------------------------------------------------------------------------ 2. ingest


def ray_startup(temp_dir: Path, threads: int) -> dict[str, Any]:
    """ray.init (local, loopback, no dashboard) and ray.shutdown, timed; leftovers stopped by PID."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before import ray: listen on 127.0.0.1 only
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import logging

    t0 = time.perf_counter()
    import ray

    res: dict[str, Any] = {"import_s": time.perf_counter() - t0}
    with ChildWatch("ray") as watch:
        try:
            t0 = time.perf_counter()
            ray.init(
                num_cpus=threads, _node_ip_address="127.0.0.1", include_dashboard=False, _temp_dir=str(temp_dir),
                log_to_driver=False, logging_level=logging.ERROR,
            )
            res["init_s"] = time.perf_counter() - t0
            res["rss_ray_mb"] = rss_mb(children=True) - rss_mb()
        finally:
            t0 = time.perf_counter()
            ray.shutdown()
            res["shutdown_s"] = time.perf_counter() - t0
    res["leftovers_stopped"] = watch.leftovers()
    return res


def work_ingest(spec: dict[str, Any]) -> dict[str, Any]:
    """Local ingest then ``engine="ray"`` ingest of the same files into two new data directories."""
    from policykg.api.kb import Config, KnowledgeBase

    threads = spec["threads"]
    tmp = Path(spec["tmp"])
    files = [Path(p) for p in spec["files"]]
    manifest = Path(spec["manifest"])
    res: dict[str, Any] = {"files": len(files), "bytes": sum(f.stat().st_size for f in files), "threads": threads}

    def config() -> Config:
        return Config(threads=threads, graph_url=None, vectors_url=None)

    def count(kb: KnowledgeBase) -> dict[str, int]:
        q = kb.store.query
        return {"documents": q("SELECT count(*) AS n FROM documents")[0]["n"], "passages": q("SELECT count(*) AS n FROM passages")[0]["n"],
                "measures": q("SELECT count(*) AS n FROM measures")[0]["n"], "links": q("SELECT count(*) AS n FROM links")[0]["n"]}  # fmt: skip

    ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # short: Ray's socket paths are length-limited
    os.environ["RAY_TMPDIR"] = str(ray_tmp)
    try:
        log("  ray startup ...")
        try:
            res["ray_startup"] = ray_startup(ray_tmp, threads)
        except Exception as exc:
            res["ray_startup"] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}

        log("  local ingest ...")
        kb = KnowledgeBase(tmp / "local", config=config())
        t0 = time.perf_counter()
        kb.encoder().encode_passages(["预热"])
        res["model_load_s"] = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        rep = kb.ingest(files, manifest=manifest)
        res["local"] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "failed": rep.failed[:3], **count(kb)}
        kb.close()

        log("  ray ingest ...")
        kb = KnowledgeBase(tmp / "ray", config=config())
        with ChildWatch("ray") as watch:
            t0 = time.perf_counter()
            try:
                rep = kb.ingest(files, manifest=manifest, engine="ray")
                res["ray"] = {"wall_s": time.perf_counter() - t0, "failed": rep.failed[:3], **count(kb)}
            except Exception as exc:
                res["ray"] = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"}
            finally:
                kb.close()
                with contextlib.suppress(Exception):
                    import ray

                    if ray.is_initialized():
                        ray.shutdown()
        res["ray_leftovers_stopped"] = watch.leftovers()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    return res


# ------------------------------------------------------------------------------- 3. vector search


def synthetic_vectors(base: np.ndarray, n: int, sigma: float, seed: int = 42) -> np.ndarray:
    """``n`` vectors: passage ``i`` is real passage ``i % len(base)`` + N(0, sigma) noise, renormalised."""
    rng = np.random.default_rng(seed)
    vecs = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        chunk = base[np.arange(start, stop) % len(base)]
        chunk += rng.standard_normal(chunk.shape, dtype=np.float32) * sigma
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        vecs[start:stop] = chunk
    return vecs


def exact_top(vecs: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Row indexes of the exact top ``k`` inner products per query (brute force numpy, chunked)."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vecs), 262144):
        s = queries @ vecs[start: start + 262144].T
        if mask is not None:
            s[:, ~mask[start: start + 262144]] = -np.inf
        cat_s = np.concatenate([best_s, s], axis=1)
        cat_i = np.concatenate([best_i, np.broadcast_to(np.arange(start, start + s.shape[1]), s.shape)], axis=1)
        part = np.argpartition(-cat_s, min(k, cat_s.shape[1] - 1), axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cat_s, part, 1), np.take_along_axis(cat_i, part, 1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, 1)


def recalls(answers: list[tuple[np.ndarray, np.ndarray]], exact_ids: np.ndarray, n_real: int, k: int = 10) -> tuple[float, float]:
    """recall@k of search answers ((scores, ids) of queries 0, 1, …) against the exact ids, and the same
    counting a passage as found when a noisy copy of the same real passage was returned instead."""
    rec, src = [], []
    for (_, found), exact in zip(answers, exact_ids, strict=False):
        f, e = [int(x) for x in found[0][:k] if x > 0], [int(x) for x in exact[:k]]
        rec.append(len(set(f) & set(e)) / k)
        fs, es = {(x - 1) % n_real for x in f}, {(x - 1) % n_real for x in e}
        src.append(len(fs & es) / len(es))
    return float(np.mean(rec)), float(np.mean(src))


def _bench_faiss(ids: np.ndarray, vecs: np.ndarray, qv: np.ndarray, mask: np.ndarray, exact_ids: np.ndarray,
                 exact_f_ids: np.ndarray, threads: int, n_real: int) -> dict[str, Any]:
    """FaissIndex as the product builds it: build time, RSS growth, latency, recall, filtered search."""
    import faiss

    from policykg.search.index import FaissIndex

    trim()
    rss1 = rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex.build(ids, vecs, "auto", threads)
    fa: dict[str, Any] = {"build_s": time.perf_counter() - t0, "rss_mb": rss_mb() - rss1}
    fa["index_mb"] = faiss.serialize_index(index.index).nbytes / 2**20  # type: ignore[arg-type]  # vectors + graph + id map
    fa["kind"] = type(faiss.downcast_index(index.index.index)).__name__  # type: ignore[attr-defined]
    rows = list(range(len(qv)))
    answers: list[Any] = []
    fa["query"] = timed(rows, lambda i: index.search(qv[i: i + 1], K), out=answers)
    fa["recall@10"], fa["src_recall@10"] = recalls(answers, exact_ids, n_real)
    allowed = ids[mask]
    answers = []
    fa["filtered"] = timed(rows, lambda i: index.search(qv[i: i + 1], K, allowed=allowed), out=answers)
    fa["filtered_recall@10"], fa["filtered_src_recall@10"] = recalls(answers, exact_f_ids, n_real)
    fa["filtered_short"] = float(np.mean([(a[1][0][:10] < 0).sum() for a in answers]))
    return fa


def wait_indexed(data: Path, timeout: float) -> tuple[int, int]:
    """Wait until Milvus Lite has built the vector index of every segment (it does so in the background
    after a flush; until then a segment is searched by brute force). Returns (segments, indexed)."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int] = (-1, -1)
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        segs = {f.stem for f in data.rglob("data/*.parquet")}
        idx = {f.name.split(".")[0] for f in data.rglob("indexes/*.idx") if ".vector." in f.name}
        now = (len(segs), len(segs & idx))
        if now != last:
            last, stable_since = now, time.monotonic()
        elif now[0] and now[0] == now[1] and time.monotonic() - stable_since > 3:
            break
        time.sleep(0.5)
    return last


def work_vectors(spec: dict[str, Any]) -> dict[str, Any]:
    """faiss (FaissIndex as the product builds it) against Milvus Lite at ``n`` synthetic passages."""
    pin_threads(spec["threads"])
    from policykg.graph.store import SQLiteStore
    from policykg.search.milvus import MilvusIndex, PassageRow, milvus_filter
    from tests.servers import start_milvus

    n, tmp = int(spec["n"]), Path(spec["tmp"])
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    real_ids, base = store.passage_vectors(384)
    meta = {r["id"]: r for r in store.passage_meta()}
    store.close()
    n_real = len(real_ids)
    qv = np.load(spec["queries"]).astype(np.float32)
    res: dict[str, Any] = {"n": n, "queries": len(qv), "k": K, "real_passages": n_real}
    rss0 = rss_mb()
    t0 = time.perf_counter()
    vecs = synthetic_vectors(base, n, spec["sigma"])
    ids = np.arange(1, n + 1, dtype=np.int64)
    src = np.arange(n) % n_real
    copy = np.arange(n) // n_real
    real_years = np.array([meta[int(i)]["year"] if meta[int(i)]["year"] is not None else -1 for i in real_ids], dtype=np.int64)
    years = np.where(real_years[src] >= 0, real_years[src] + copy % 5, -1)
    res["synth_s"] = time.perf_counter() - t0
    res["rss_vectors_mb"] = rss_mb() - rss0
    vals, counts = np.unique(years[years >= 0], return_counts=True)
    year = int(vals[np.argmax(counts)])
    mask = years == year
    res["filter_year"], res["filter_share"] = year, float(mask.mean())
    t0 = time.perf_counter()
    exact = exact_top(vecs, qv, 10)
    exact_f = exact_top(vecs, qv, 10, mask)
    res["exact_numpy_s_per_query"] = (time.perf_counter() - t0) / (2 * len(qv))
    exact_ids, exact_f_ids = ids[exact], ids[exact_f]

    # -- faiss, in process
    log(f"  faiss build ({n:,}) ...")
    res["faiss"] = _bench_faiss(ids, vecs, qv, mask, exact_ids, exact_f_ids, spec["threads"], n_real)
    gc.collect()

    # -- Milvus Lite server
    log(f"  milvus insert ({n:,}) ...")
    mv: dict[str, Any] = {}
    server = start_milvus(tmp / f"milvus-{n}")
    try:
        mv["rss_empty_mb"] = rss_mb(server.proc.pid, children=True)
        mi = MilvusIndex(f"http://127.0.0.1:{server.port}", f"scale_{n}", timeout=600)
        docs = [meta[int(i)] for i in real_ids]
        prows = [
            PassageRow(int(ids[j]), f"{docs[s]['doc_id']}-c{c}", int(years[j]) if years[j] >= 0 else None, docs[s]["doc_type"],
                       virtual_issuer(docs[s]["issuer"], c + 1) if docs[s]["issuer"] else None)
            for j, (s, c) in enumerate(zip(src.tolist(), copy.tolist(), strict=True))
        ]  # fmt: skip
        t0 = time.perf_counter()
        mi.add(prows, vecs)
        mv["insert_s"] = time.perf_counter() - t0
        del prows
        t0 = time.perf_counter()
        mv["count"] = mi.count()  # flushes
        mv["flush_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        mv["segments"], mv["indexed"] = wait_indexed(server.data, timeout=900)
        mv["index_wait_s"] = time.perf_counter() - t0
        mv["build_s"] = mv["insert_s"] + mv["flush_s"] + mv["index_wait_s"]
        mi.search(qv[:1], K)
        rows = list(range(len(qv)))
        where = milvus_filter(year=year)
        budget = spec.get("milvus_budget_s", 15.0)
        # MilvusIndex as the product runs it (ef 512, 4096 when filtered)
        answers: list[Any] = []
        mv["query"] = timed(rows, lambda i: mi.search(qv[i: i + 1], K), budget_s=budget, min_n=10, out=answers)
        mv["recall@10"], mv["src_recall@10"] = recalls(answers, exact_ids, n_real)
        answers = []
        mv["filtered"] = timed(rows, lambda i: mi.search(qv[i: i + 1], K, where=where), budget_s=budget, min_n=10, out=answers)
        mv["filtered_recall@10"], mv["filtered_src_recall@10"] = recalls(answers, exact_f_ids, n_real)
        mv["filtered_short"] = float(np.mean([(a[1][0][:10] < 0).sum() for a in answers]))
        mv["rss_mb"] = rss_mb(server.proc.pid, children=True)
        mv["disk_mb"] = dir_mb(server.data)
    except Exception as exc:
        mv["error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
    finally:
        server.stop()
    res["milvus"] = mv
    return res


# -------------------------------------------------------------------------------------- 4. SPARQL

QUERIES_SPARQL = {
    "implements": 'SELECT ?m ?title WHERE { ?m pkg:implements ?r ; rdfs:label ?title . ?r skos:prefLabel ?n . FILTER(CONTAINS(?n, "实验动物")) }',
    "per_year": "SELECT ?y (COUNT(?m) AS ?n) WHERE { ?m a pkg:Measure ; pkg:year ?y } GROUP BY ?y ORDER BY ?y",
}
_ID_URI = re.compile(r"(<" + re.escape(ID_BASE) + r"[^>]*)>")


def with_prefixes(q: str) -> str:
    from policykg.graph.rdf import PREFIXES

    return "\n".join([*(f"PREFIX {p}: <{ns}>" for p, ns in PREFIXES.items()), q])


def nt_copy(nt: str, c: int) -> str:
    """Copy ``c`` of an N-Triples text: every URI under the id base gets the suffix -c<c> (0: unchanged)."""
    return nt if c == 0 else _ID_URI.sub(lambda m: f"{m.group(1)}-c{c}>", nt)


def _all_rows(graph: Any, query: Any, _rep: int) -> list[Any]:
    """Every row of ``query`` on ``graph`` (an rdflib Graph or a SparqlServerGraph)."""
    return list(graph.query(query))


def gsp_post(port: int, graph: str, body: bytes, bulk: bool = True) -> None:
    """Graph Store protocol: POST N-Triples into named graph ``graph`` of the server on 127.0.0.1:``port``;
    ``bulk``: Oxigraph's ``no_transaction`` flag (its bulk loader, not atomic)."""
    url = f"http://127.0.0.1:{port}/store?graph={urllib.parse.quote(graph, safe='')}" + ("&no_transaction" if bulk else "")
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/n-triples"})
    with urllib.request.urlopen(req, timeout=600) as r:
        r.read()


def work_sparql(spec: dict[str, Any]) -> dict[str, Any]:
    """rdflib in memory against Oxigraph at each number of graph copies."""
    from rdflib import Graph
    from rdflib.plugins.sparql import prepareQuery

    from policykg.graph.rdf import PREFIXES, build_rdf
    from policykg.graph.remote import SparqlEndpoint, SparqlServerGraph
    from policykg.graph.store import SQLiteStore
    from tests.servers import start_oxigraph

    tmp = Path(spec["tmp"])
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    t0 = time.perf_counter()
    g0 = build_rdf(store)
    passages = store.query("SELECT count(*) AS n FROM passages")[0]["n"]
    store.close()
    n_base = len(g0)
    res: dict[str, Any] = {"base_triples": n_base, "passages": passages, "build_rdf_s": time.perf_counter() - t0, "sizes": []}
    nt = g0.serialize(format="nt")
    del g0
    trim()
    budget = spec["query_budget_s"]
    reps = list(range(spec["reps"]))
    copies: list[int] = list(spec["copies"])
    done: list[int] = []
    while copies:
        k = copies.pop(0)
        done.append(k)
        row: dict[str, Any] = {"copies": k, "triples": n_base * k}
        if k <= spec["embedded_max"]:
            log(f"  rdflib x{k} ...")
            trim()
            rss0 = rss_mb()
            g = Graph()
            t0 = time.perf_counter()
            for c in range(k):  # parse the same N-Triples as Oxigraph gets: every term a new object
                g.parse(data=nt_copy(nt, c), format="nt")
            emb: dict[str, Any] = {"load_s": time.perf_counter() - t0, "triples": len(g)}
            trim()
            emb["rss_mb"] = rss_mb() - rss0
            for name, q in QUERIES_SPARQL.items():
                prepared = prepareQuery(q, initNs=dict(PREFIXES))
                emb[f"rows_{name}"] = len(list(g.query(prepared)))
                emb[name] = timed(reps, functools.partial(_all_rows, g, prepared), warmup=1, budget_s=budget)
            row["rdflib"] = emb
            del g
            trim()
        log(f"  oxigraph x{k} ...")
        ox: dict[str, Any] = {}
        server = start_oxigraph(tmp / f"oxigraph-{k}")
        try:
            ox["rss_empty_mb"] = rss_mb(server.proc.pid, children=True)
            t0 = time.perf_counter()
            for c in range(k):
                gsp_post(server.port, f"{GRAPH_BASE}copy/{c}", nt_copy(nt, c).encode("utf-8"))
            ox["load_s"] = time.perf_counter() - t0
            base_url = f"http://127.0.0.1:{server.port}"
            sg = SparqlServerGraph(SparqlEndpoint(f"{base_url}/query", f"{base_url}/update", timeout=600))
            ox["triples"] = sg.count()
            for name, q in QUERIES_SPARQL.items():
                full = with_prefixes(q)
                ox[f"rows_{name}"] = len(list(sg.query(full)))
                ox[name] = timed(reps, functools.partial(_all_rows, sg, full), warmup=1, budget_s=budget)
            ox["rss_mb"] = rss_mb(server.proc.pid, children=True)
            ox["disk_mb"] = dir_mb(server.data)
        except Exception as exc:
            ox["error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}"
        finally:
            server.stop()
            shutil.rmtree(server.data, ignore_errors=True)
        if k <= spec["embedded_max"] and "error" not in ox:  # the same load, one transaction per POST
            server = start_oxigraph(tmp / f"oxigraph-tx-{k}")
            try:
                t0 = time.perf_counter()
                for c in range(k):
                    gsp_post(server.port, f"{GRAPH_BASE}copy/{c}", nt_copy(nt, c).encode("utf-8"), bulk=False)
                ox["load_tx_s"] = time.perf_counter() - t0
                ox["disk_tx_mb"] = dir_mb(server.data)
            except Exception as exc:
                ox["load_tx_error"] = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
            finally:
                server.stop()
                shutil.rmtree(server.data, ignore_errors=True)
        row["oxigraph"] = ox
        res["sizes"].append(row)
        if k == 10 and spec["try_100"] and 100 not in done and "error" not in ox:
            if ox["load_s"] < 120:
                copies.append(100)
            else:
                res["skipped_100"] = f"x10 loaded in {ox['load_s']:.0f} s (> 120 s)"
    return res


# ---------------------------------------------------------------------------------------- 5. BM25


def synthetic_token_lists(real: list[list[str]], n: int, seed: int = 7) -> list[list[str]]:
    """``n`` token lists: a real list drawn at random, 10% of its tokens replaced by tokens drawn from the
    corpus's unigram distribution, 5% dropped, 1% replaced by new words (Zipf over a vocabulary that grows
    with ``n``, as a real corpus's does)."""
    rng = np.random.default_rng(seed)
    vocab: dict[str, int] = {}
    flat = np.fromiter((vocab.setdefault(t, len(vocab)) for doc in real for t in doc), dtype=np.int64)
    lengths = np.array([len(d) for d in real], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    words = np.array(list(vocab), dtype=object)
    n_new = max(1000, int(30 * n ** 0.6))
    new_words = np.array([f"新词{i}" for i in range(n_new)], dtype=object)
    table = np.concatenate([words, new_words])
    out: list[list[str]] = []
    for start in range(0, n, 50_000):
        m = min(n, start + 50_000) - start
        src = rng.integers(0, len(real), m)
        lens = lengths[src]
        idx = np.repeat(offsets[src] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())
        toks = flat[idx]
        r = rng.random(len(toks))
        swap = r < 0.10
        toks[swap] = flat[rng.integers(0, len(flat), int(swap.sum()))]  # unigram draw
        new = r > 0.99
        toks[new] = len(words) + np.minimum(rng.zipf(1.3, int(new.sum())) - 1, n_new - 1)
        kept = (r < 0.10) | (r >= 0.15)  # 5% dropped
        bounds = np.concatenate([[0], np.cumsum(lens)])
        cum = np.concatenate([[0], np.cumsum(kept)])
        objs = table[toks[kept]]
        nb = cum[bounds]
        out.extend(objs[nb[i]: nb[i + 1]].tolist() for i in range(m))
    return out


def _bench_bm25_single(ids: np.ndarray, lists: list[list[str]], qterms: list[list[str]], depth: int) -> tuple[dict[str, Any], list[list[int]]]:
    """One bm25s index (BM25Index as the product builds it): build, RSS growth, latency; and its top 10 per query."""
    from policykg.search.index import BM25Index
    from policykg.search.ranking import top_k

    trim()
    rss1 = rss_mb()
    t0 = time.perf_counter()
    index = BM25Index.build(ids, lists)
    single: dict[str, Any] = {"build_s": time.perf_counter() - t0, "rss_mb": rss_mb() - rss1}
    bm = index.retriever
    single["arrays_mb"] = sum(int(getattr(v, "nbytes", 0)) for v in getattr(bm, "scores", {}).values()) / 2**20
    single["vocab"] = len(getattr(bm, "vocab_dict", {}))

    def run(i: int) -> Any:
        return top_k(index.scores(qterms[i]), index.ids, depth)

    rows = list(range(len(qterms)))
    single["query"] = timed(rows, run, warmup=3)
    return single, [run(i).ids[:10].tolist() for i in rows]


def work_bm25(spec: dict[str, Any]) -> dict[str, Any]:
    """One bm25s index against ``SHARDS`` shards (random partition) at ``n`` synthetic passages."""
    from policykg.graph.store import SQLiteStore
    from policykg.search.index import BM25Index
    from policykg.search.ranking import FusionWeights, top_k
    from policykg.search.tokenize import bm25_terms

    n = int(spec["n"])
    depth = FusionWeights().depth
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    tids, words = store.passage_tokens()
    texts = {p.id: p.embed_text for p in store.passages()}
    store.close()
    real = [bm25_terms(texts[int(i)], w) for i, w in zip(tids.tolist(), words, strict=True)]
    del texts, words
    queries = load_queries()
    qterms = [bm25_terms(q) for q in queries]  # jieba's dictionary loads here
    trim()
    res: dict[str, Any] = {"n": n, "queries": len(queries), "shards": SHARDS, "depth": depth,
                           "terms_per_passage": float(np.mean([len(d) for d in real]))}  # fmt: skip
    rss0 = rss_mb()
    t0 = time.perf_counter()
    lists = synthetic_token_lists(real, n)
    res["synth_s"] = time.perf_counter() - t0
    res["rss_token_lists_mb"] = rss_mb() - rss0
    ids = np.arange(1, n + 1, dtype=np.int64)

    log(f"  bm25s build ({n:,}) ...")
    gc.collect()
    res["single"], top_single = _bench_bm25_single(ids, lists, qterms, depth)
    gc.collect()
    rows = list(range(len(queries)))

    log(f"  bm25s {SHARDS} shards ({n:,}) ...")
    rng = np.random.default_rng(11)
    parts = np.array_split(rng.permutation(n), SHARDS)
    trim()
    rss2 = rss_mb()
    t0 = time.perf_counter()
    shards = [BM25Index.build(ids[p], [lists[j] for j in p.tolist()]) for p in parts]
    sharded: dict[str, Any] = {"build_s": time.perf_counter() - t0, "rss_mb": rss_mb() - rss2}
    shard_times: list[float] = []

    def run_sharded(i: int) -> list[int]:
        ids_, scores_ = [], []
        for sh in shards:
            t = time.perf_counter()
            c = top_k(sh.scores(qterms[i]), sh.ids, depth)
            shard_times.append(time.perf_counter() - t)
            ids_.append(c.ids)
            scores_.append(c.scores)
        allids, allscores = np.concatenate(ids_), np.concatenate(scores_)
        order = np.argsort(-allscores, kind="stable")[:depth]
        return allids[order].tolist()

    sharded["query"] = timed(rows, run_sharded, warmup=3)
    # slowest shard per query: the latency when the shards answer in parallel (one per node)
    per_q = np.asarray(shard_times[-len(rows) * SHARDS:]).reshape(len(rows), SHARDS).max(axis=1)
    sharded["query_parallel"] = pct(per_q.tolist())
    overlaps = []
    for i in rows:
        a = top_single[i]
        if a:
            overlaps.append(len(set(a) & set(run_sharded(i)[:10])) / len(a))
    sharded["overlap@10"] = float(np.mean(overlaps)) if overlaps else float("nan")
    sharded["queries_with_hits"] = len(overlaps)
    res["sharded"] = sharded
    return res


# ------------------------------------------------------------------------------------------ report


def _f(x: Any, fmt: str = ".1f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, fmt)


def _ratio(a: Any, b: Any) -> str:
    try:
        return f"{float(b) / float(a):.2f}" if a and b is not None and float(a) > 0 else "-"
    except (TypeError, ValueError):
        return "-"


def _lat(d: dict[str, Any] | None) -> str:
    return f"{d['p50_ms']:.2f} / {d['p99_ms']:.2f}" if d and d.get("n") else "-"


def report(r: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str]] = []

    def add(part: str, what: str, emb: Any, out: Any, ratio: str = "") -> None:
        rows.append((part, what, str(emb), str(out), ratio))

    ing = r.get("ingest")
    if ing:
        part = f"ingest {ing.get('files', '?')} docs"
        if "error" in ing:
            add(part, "error", ing["error"], "", "")
        else:
            loc, ray = ing.get("local", {}), ing.get("ray", {})
            rs = ing.get("ray_startup", {})
            th = ing["threads"]
            add(part, "engine", f"local (torch, {th} threads)", f"ray ({th} CPUs, loopback)", "out/emb")
            add(part, "documents / passages stored", f"{loc.get('documents')} / {loc.get('passages')}",
                f"{ray.get('documents')} / {ray.get('passages')}" if "error" not in ray else "-")
            if loc.get("failed") or ray.get("failed"):
                add(part, "failed files (first)", "; ".join(loc.get("failed", [])) or "-", "; ".join(ray.get("failed", [])) or "-")
            lw = loc.get("wall_s")
            if "error" in ray:
                add(part, "wall s", _f(lw), f"ERROR {ray['error']}")
            else:
                rw = ray.get("wall_s")
                add(part, "wall s", _f(lw), _f(rw), _ratio(lw, rw))
                lp, rp = loc["passages"] / lw, ray["passages"] / rw
                add(part, "passages/s", _f(lp), _f(rp), _ratio(lp, rp))
                add(part, "passages/s per core", _f(lp / th, ".2f"), _f(rp / th, ".2f"), _ratio(lp, rp))
                add(part, "Ray overhead: wall ray - local (s)", "", _f(rw - lw))
            add(part, "local CPU s (process) / model load s", f"{_f(loc.get('cpu_s'))} / {_f(ing.get('model_load_s'))}", "")
            if "error" in rs:
                add(part, "Ray startup", "", f"ERROR {rs['error']}")
            else:
                add(part, "Ray startup: import / init / shutdown s", "",
                    f"{_f(rs.get('import_s'))} / {_f(rs.get('init_s'))} / {_f(rs.get('shutdown_s'))}")
                add(part, "Ray idle processes RSS MB", "", _f(rs.get("rss_ray_mb"), ".0f"))
    for v in r.get("vectors", []):
        part = f"vectors {v.get('n', 0):,}"
        if "error" in v:
            add(part, "error", v["error"], "")
            continue
        fa, mv = v["faiss"], v["milvus"]
        add(part, "backend", f"faiss {fa['kind']} (in process)", "Milvus Lite (server)", "out/emb")
        if "error" in mv:
            add(part, "Milvus", "", f"ERROR {mv['error']}")
        add(part, "build s / Milvus insert + flush + index", _f(fa["build_s"]),
            f"{_f(mv.get('build_s'))} = {_f(mv.get('insert_s'))} + {_f(mv.get('flush_s'))} + {_f(mv.get('index_wait_s'))}",
            _ratio(fa["build_s"], mv.get("build_s")))
        fy = f"year == {v['filter_year']} ({v['filter_share']:.0%})"
        def rc(d: dict[str, Any], key: str) -> str:
            return f"{_f(d.get(key), '.3f')} ({_f(d.get(key.replace('recall', 'src_recall')), '.3f')})"

        q, fq = mv.get("query"), mv.get("filtered")
        if q:
            label = "MilvusIndex"
            add(part, f"query k={K} p50 / p99 ms [Milvus: {label}]", _lat(fa["query"]), _lat(q), _ratio(fa["query"]["p50_ms"], q["p50_ms"]))
            add(part, f"recall@10 (same source) [Milvus: {label}]", rc(fa, "recall@10"), rc(mv, "recall@10"))
            add(part, f"filtered {fy} p50 / p99 ms [{label}]", _lat(fa["filtered"]), _lat(fq),
                _ratio(fa["filtered"]["p50_ms"], (fq or {}).get("p50_ms")))
            add(part, f"filtered recall@10 (same source) [{label}]", rc(fa, "filtered_recall@10"), rc(mv, "filtered_recall@10"))
            add(part, f"filtered: missing of top 10 [{label}]", _f(fa.get("filtered_short"), ".1f"), _f(mv.get("filtered_short"), ".1f"))
        add(part, "index MB (faiss serialized) / RSS growth MB", f"{_f(fa['index_mb'], '.0f')} / {_f(fa['rss_mb'], '.0f')}", "")
        add(part, "Milvus server RSS MB (empty) / disk MB / segments", "",
            f"{_f(mv.get('rss_mb'), '.0f')} ({_f(mv.get('rss_empty_mb'), '.0f')}) / {_f(mv.get('disk_mb'), '.0f')} / {mv.get('segments', '-')}",
            _ratio(fa["index_mb"], mv.get("rss_mb")))
        add(part, "exact numpy search ms/query (recall reference)", _f(v["exact_numpy_s_per_query"] * 1000, ".2f"), "")
    sp = r.get("sparql")
    if sp:
        if "error" in sp:
            add("sparql", "error", sp["error"], "")
        for s in sp.get("sizes", []):
            part = f"sparql x{s['copies']}"
            e, o = s.get("rdflib"), s["oxigraph"]
            add(part, "backend / triples", f"rdflib Graph: {e['triples']:,}" if e else "(not run)",
                f"Oxigraph: {o.get('triples', 0):,}" if "error" not in o else f"ERROR {o['error']}", "out/emb")
            if "error" in o and not e:
                continue
            add(part, "load s (Oxigraph: GSP POST, bulk no_transaction)", _f(e and e["load_s"]), _f(o.get("load_s")),
                _ratio(e and e["load_s"], o.get("load_s")))
            if "load_tx_s" in o or "load_tx_error" in o:
                add(part, "Oxigraph GSP POST, one transaction each: load s / disk MB", "",
                    o.get("load_tx_error") or f"{_f(o['load_tx_s'])} / {_f(o['disk_tx_mb'], '.0f')}", _ratio(e and e["load_s"], o.get("load_tx_s")))
            for name in QUERIES_SPARQL:
                add(part, f"{name} p50 / p99 ms (rows)",
                    f"{_lat(e[name])} ({e[f'rows_{name}']})" if e else "-",
                    f"{_lat(o.get(name))} ({o.get(f'rows_{name}', '-')})",
                    _ratio(e and e[name]["p50_ms"], (o.get(name) or {}).get("p50_ms")))
            add(part, "RSS MB (rdflib: growth; Oxigraph: server) / disk MB", _f(e and e["rss_mb"], ".0f"),
                f"{_f(o.get('rss_mb'), '.0f')} / {_f(o.get('disk_mb'), '.0f')}", _ratio(e and e["rss_mb"], o.get("rss_mb")))
        if sp.get("skipped_100"):
            add("sparql x100", "skipped", "", sp["skipped_100"])
    for b in r.get("bm25", []):
        part = f"bm25 {b.get('n', 0):,}"
        if "error" in b:
            add(part, "error", b["error"], "")
            continue
        si, sh = b["single"], b["sharded"]
        add(part, "index", "bm25s, one index", f"bm25s, {b['shards']} shards, merged top-{b['depth']}", "out/emb")
        add(part, "build s", _f(si["build_s"]), _f(sh["build_s"]), _ratio(si["build_s"], sh["build_s"]))
        add(part, "RSS growth MB (arrays MB)", f"{_f(si['rss_mb'], '.0f')} ({_f(si['arrays_mb'], '.0f')})", _f(sh["rss_mb"], ".0f"),
            _ratio(si["rss_mb"], sh["rss_mb"]))
        add(part, "query p50 / p99 ms (shards in sequence)", _lat(si["query"]), _lat(sh["query"]),
            _ratio(si["query"]["p50_ms"], sh["query"]["p50_ms"]))
        add(part, "query p50 / p99 ms (slowest shard = parallel)", "", _lat(sh["query_parallel"]),
            _ratio(si["query"]["p50_ms"], sh["query_parallel"]["p50_ms"]))
        add(part, "top-10 overlap with one index", "1", _f(sh["overlap@10"], ".3f"))
        add(part, "vocabulary / terms per passage", f"{si['vocab']:,} / {b['terms_per_passage']:.0f}", "")
        add(part, "token lists (input) RSS MB / synth s", f"{_f(b['rss_token_lists_mb'], '.0f')} / {_f(b['synth_s'])}", "")

    widths = [max(len(x[i]) for x in [*rows, ("part", "measure", "embedded", "scaled out", "ratio")]) for i in range(5)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(("part", "measure", "embedded", "scaled out", "ratio"), widths, strict=True)) + " |"
    out = [r.get("title", ""), "", line, "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    out += ["", *sizing(r), "", *r.get("notes", [])]
    return "\n".join(out)


def _largest(items: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    ok = [x for x in items if "error" not in x and key in x and "error" not in x[key]]
    return max(ok, key=lambda x: x["n"]) if ok else None


def sizing(r: dict[str, Any]) -> list[str]:
    """10M passages extrapolated linearly from this run's per-passage figures."""
    n = TARGET
    st = r.get("store", {})
    gib = 2**30
    node_mem = NODE_RAM_GIB * USABLE
    rows: list[tuple[str, str, str, str, str]] = []

    def add(what: str, mem: float | None, disk: float | None, basis: str) -> None:
        nodes = str(max(1, math.ceil(mem / node_mem))) if mem is not None and not math.isnan(mem) else "-"
        rows.append((what, _f(mem), _f(disk), nodes, basis))

    raw = n * 384 * 4 / gib
    add("vectors, raw float32 (10M x 384 x 4 B)", raw, raw, "arithmetic")
    v = _largest(r.get("vectors", []), "faiss")
    if v:
        per = v["faiss"]["index_mb"] * 2**20 / v["n"]
        add(f"faiss {v['faiss']['kind']}, in every API process", per * n / gib, per * n / gib,
            f"{per:.0f} B/passage (serialized index at {v['n']:,})")
    vm = _largest(r.get("vectors", []), "milvus")
    if vm and vm["milvus"].get("rss_mb"):
        mv = vm["milvus"]
        per = (mv["rss_mb"] - mv.get("rss_empty_mb", 0)) * 2**20 / vm["n"]
        per_disk = mv.get("disk_mb", 0) * 2**20 / vm["n"]
        add("Milvus (Lite figures; replicas multiply)", per * n / gib, per_disk * n / gib,
            f"{per:.0f} B/passage RSS, {per_disk:.0f} B/passage disk (at {vm['n']:,})")
    if st.get("passages"):
        per = st["sqlite_bytes"] / st["passages"]
        add("SQLite store (texts, tokens, vectors, graph)", None, per * n / gib, f"{per:.0f} B/passage (copied store)")
    b = _largest(r.get("bm25", []), "single")
    if b:
        per = b["single"]["rss_mb"] * 2**20 / b["n"]
        saved = st["bm25_bytes"] / st["passages"] if st.get("bm25_bytes") else float("nan")
        add("bm25s, one index in every API process", per * n / gib, saved * n / gib,
            f"{per:.0f} B/passage RSS (at {b['n']:,}); disk: saved index of the store, {saved:.0f} B/passage")
        per_s = b["sharded"]["rss_mb"] * 2**20 / b["n"]
        add(f"bm25s, {SHARDS} shards (each; the alternative to Milvus's BM25)", per_s * n / gib / SHARDS, None,
            f"{per_s:.0f} B/passage over all shards")
        text = st["text_bytes"] / st["passages"] if st.get("text_bytes") else 0.0
        # the vectors part inserts no text; Milvus's sparse BM25 index is an inverted index over jieba
        # words like bm25s's, so its size is taken from bm25s's, plus the raw text Milvus keeps
        add("keywords in Milvus (BM25 sparse index + text; estimate)", (per + text) * n / gib, (per + text) * n / gib,
            f"bm25s's {per:.0f} B/passage + {text:.0f} B/passage of text (not measured in Milvus)")
    sp = r.get("sparql", {})
    if sp.get("base_triples"):
        tpp = sp["base_triples"] / sp["passages"]
        triples = tpp * n
        big = max((s for s in sp.get("sizes", []) if "error" not in s["oxigraph"]), key=lambda s: s["copies"], default=None)
        emb = max((s for s in sp.get("sizes", []) if s.get("rdflib")), key=lambda s: s["copies"], default=None)
        if emb:
            per = emb["rdflib"]["rss_mb"] * 2**20 / emb["rdflib"]["triples"]
            add(f"graph, rdflib in memory ({triples / 1e6:.0f}M triples)", per * triples / gib, None,
                f"{tpp:.1f} triples/passage; {per:.0f} B/triple (x{emb['copies']})")
        if big:
            o = big["oxigraph"]
            per = (o["rss_mb"] - o.get("rss_empty_mb", 0)) * 2**20 / o["triples"]
            per_disk = o["disk_mb"] * 2**20 / o["triples"]
            load = o["load_s"] / o["triples"] * triples / 3600
            # RocksDB works from disk: its RSS stays small; the latencies above had the files in the page cache
            add(f"graph, Oxigraph ({triples / 1e6:.0f}M triples)", per_disk * triples / gib, per_disk * triples / gib,
                f"{per_disk:.0f} B/triple disk (bulk load; memory = page cache to keep it hot, RSS only {per:.0f} B/triple); "
                f"bulk load ~{load:.1f} h (x{big['copies']})")
    ing = r.get("ingest", {})
    extra: list[str] = []
    loc = ing.get("local") or {}
    if loc.get("wall_s"):
        ppc = loc["passages"] / loc["wall_s"] / ing["threads"]
        ch = n / ppc / 3600
        extra.append(f"- ingest (read, extract, embed, link, index), local engine: {ppc:.2f} passages/s per core → {ch:,.0f} "
                     f"core-hours for 10M passages = {ch / NODE_CORES / 24:,.1f} days on one {NODE_CORES}-core node, "
                     f"{math.ceil(ch / NODE_CORES / 24):,} such nodes to finish in a day")
        ray = ing.get("ray") or {}
        if ray.get("wall_s"):
            ppc_r = ray["passages"] / ray["wall_s"] / ing["threads"]
            extra.append(f"- the Ray engine as measured here (startup included): {ppc_r:.2f} passages/s per core → "
                         f"{n / ppc_r / 3600:,.0f} core-hours")
    mem = {row[0]: float(row[1]) for row in rows if row[1] != "-"}
    emb_keys = [k for k in mem if k.startswith(("faiss", "bm25s, one", "graph, rdflib"))]
    out_keys = [k for k in mem if k.startswith(("Milvus", "keywords in Milvus", "graph, Oxigraph"))]
    if emb_keys:
        add("= embedded: each API process (faiss + bm25s + rdflib)", sum(mem[k] for k in emb_keys), None, "sum of its rows above")
    if out_keys:
        total = sum(mem[k] for k in out_keys)
        add("= scaled out: servers (Milvus with vectors and keywords + Oxigraph)", total, None,
            "sum of its rows above; API replicas hold only the model")
    hdr = ("item at 10M passages", "memory GiB", "disk GiB", f"nodes ({NODE_RAM_GIB:.0f} GiB x {USABLE:.0%})", "basis")
    widths = [max(len(x[i]) for x in [*rows, hdr]) for i in range(5)]
    out = ["Sizing for 10M passages (linear extrapolation of this run's per-passage figures):", "",
           "| " + " | ".join(h.ljust(w) for h, w in zip(hdr, widths, strict=True)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return [*out, "", *extra]


# -------------------------------------------------------------------------------------------- main


def run_worker(name: str, spec: dict[str, Any], tmp: Path, timeout: float) -> dict[str, Any]:
    """Run one part in a subprocess; stop it (and any process it left, by PID) on timeout or error."""
    spec_path = tmp / f"spec-{name}.json"
    out_path = tmp / f"result-{name}.json"
    spec = {**spec, "out": str(out_path)}
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)])
    res: dict[str, Any]
    try:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the worker turns it into SystemExit: its finally blocks stop servers
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            res = {"error": f"timed out after {timeout:.0f} s"}
        else:
            if out_path.exists():
                res = json.loads(out_path.read_text(encoding="utf-8"))
            else:
                res = {"error": f"worker exited with status {proc.returncode}"}
    except BaseException:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)
            if proc.poll() is None:
                proc.kill()
        raise
    finally:
        stopped = reap(tmp / "pids", tmp)
        if stopped:
            log(f"  stopped leftover processes of {name}: {stopped}")
    res["wall_s"] = time.perf_counter() - t0
    if stopped:
        res["leftovers_stopped"] = stopped
    return res


def reap(pid_dir: Path, tmp: Path) -> list[int]:
    """Stop the processes a worker recorded and left running: servers (their data under ``tmp``) and Ray's."""
    import psutil

    todo: dict[int, float] = {}
    for f in pid_dir.glob("*.pid") if pid_dir.exists() else []:
        with contextlib.suppress(ValueError, psutil.Error, OSError):
            pid = int(f.stem)
            words = f.read_text().split()
            p = psutil.Process(pid)
            if len(words) > 1:  # "ray <create time>"
                todo[pid] = float(words[1])
            elif str(tmp) in " ".join(p.cmdline()):  # a server of tests/servers.py, data in our temp dir
                todo[pid] = p.create_time()
        f.unlink(missing_ok=True)
    return stop_pids(todo) if todo else []


def worker_main(spec_path: Path) -> None:
    def term(*_: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, term)
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    pin_threads(spec["threads"])
    fn = {"ingest": work_ingest, "vectors": work_vectors, "sparql": work_sparql, "bm25": work_bm25}[spec["kind"]]
    try:
        res = fn(spec)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        res = {"error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}", "n": spec.get("n", 0)}
    res["peak_rss_mb"] = _peak_rss_mb()
    Path(spec["out"]).write_text(json.dumps(res), encoding="utf-8")


def _peak_rss_mb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def store_stats(data: Path) -> dict[str, Any]:
    from policykg.graph.store import SQLiteStore

    store = SQLiteStore(data / "policykg.sqlite", readonly=True)
    q = store.query
    out = {"documents": q("SELECT count(*) AS n FROM documents")[0]["n"], "passages": q("SELECT count(*) AS n FROM passages")[0]["n"]}
    texts = q("SELECT embed_text FROM passages")
    out["text_bytes"] = sum(len((r["embed_text"] or "").encode("utf-8")) for r in texts)
    store.close()
    out["sqlite_bytes"] = sum(f.stat().st_size for f in data.glob("policykg.sqlite*"))
    out["faiss_bytes"] = (data / "index" / "vectors.faiss").stat().st_size if (data / "index" / "vectors.faiss").exists() else 0
    out["bm25_bytes"] = int(dir_mb(data / "index" / "bm25") * 2**20)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("/tmp/fresh-corpus"), help="data dir with the corpus ingested (copied, never written)")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="the real corpus (manifest.csv) the synthetic one grows from")
    ap.add_argument("--sizes", help="passages for vectors and BM25 (default 100000,1000000; --quick 10000)")
    ap.add_argument("--bm25-sizes", help="passages for BM25 (default: --sizes)")
    ap.add_argument("--copies", help="graph copies (default 1,10, then 100 on Oxigraph if x10 loaded in < 2 min; --quick 1)")
    ap.add_argument("--grow", type=int, default=None, help="copies of the real corpus in the synthetic one (default 10; --quick 2)")
    ap.add_argument("--ingest-docs", type=int, default=None, help="synthetic documents ingested by each engine (default 8; --quick 2)")
    ap.add_argument("--sigma", type=float, default=0.01, help="noise per dimension of the synthetic vectors")
    ap.add_argument("--queries", type=int, default=50, help="query vectors (from bench/data/queries.jsonl)")
    ap.add_argument("--reps", type=int, default=20, help="repetitions per SPARQL query (fewer when slow)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--parts", default="ingest,vectors,sparql,bm25", help="which parts to run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 10^4 vectors, graph x1, 2 documents")
    ap.add_argument("--out", type=Path, help="write the raw figures as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (synthetic corpus, data dirs)")
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(args.worker)
        return

    sizes = [int(x) for x in (args.sizes or ("10000" if args.quick else "100000,1000000")).split(",") if x]
    bm25_sizes = [int(x) for x in args.bm25_sizes.split(",") if x] if args.bm25_sizes else sizes
    copies = [int(x) for x in (args.copies or ("1" if args.quick else "1,10")).split(",") if x]
    grow = args.grow if args.grow is not None else (2 if args.quick else 10)
    ingest_docs = args.ingest_docs if args.ingest_docs is not None else (2 if args.quick else 8)
    parts = set(args.parts.split(","))
    pin_threads(args.threads)
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="pkg-scale-"))
    os.environ["POLICYKG_TEST_PIDS"] = str(tmp / "pids")  # tests/servers.py records the server PIDs there
    import platform

    result: dict[str, Any] = {
        "title": f"policykg scale bench ({args.threads} threads pinned, {os.cpu_count()} CPUs {platform.machine()}, "
                 f"{NODE_RAM_GIB:.0f} GiB; load avg at start {' '.join(f'{x:.1f}' for x in os.getloadavg())})",
        "args": {"sizes": sizes, "bm25_sizes": bm25_sizes, "copies": copies, "grow": grow, "ingest_docs": ingest_docs,
                 "sigma": args.sigma, "threads": args.threads, "quick": args.quick},
        "vectors": [], "bm25": [], "notes": [],
    }  # fmt: skip
    try:
        data = tmp / "store"
        shutil.copytree(args.store, data, ignore=shutil.ignore_patterns("policykg.toml", "ingest.lock"))
        result["store"] = store_stats(data)
        common = {"threads": args.threads, "store": str(data), "tmp": str(tmp)}

        if "ingest" in parts:
            log(f"growing the corpus x{grow} ...")
            t0 = time.perf_counter()
            manifest, made = grow_corpus(args.corpus, tmp / "corpus", grow)
            sizes_b = [(tmp / "corpus" / m["path"]).stat().st_size for m in made]
            result["corpus"] = {"documents": len(made), "bytes": sum(sizes_b), "seconds": time.perf_counter() - t0}
            rng = random.Random(1)
            pool = [str(tmp / "corpus" / m["path"]) for m, b in zip(made, sizes_b, strict=True) if b < 100_000]
            files = sorted(rng.sample(pool, min(ingest_docs, len(pool))))
            log(f"ingest of {len(files)} documents, local and ray ...")
            result["ingest"] = run_worker("ingest", {**common, "kind": "ingest", "files": files, "manifest": str(manifest)}, tmp, 1800)

        if "vectors" in parts:
            from policykg.search.embeddings import load_encoder

            log("encoding the query vectors ...")
            qv = load_encoder().encode_queries(load_queries(args.queries))
            np.save(tmp / "queries.npy", qv)
            for n in sizes:
                log(f"vectors {n:,} ...")
                result["vectors"].append({"n": n, **run_worker(f"vectors-{n}", {
                    **common, "kind": "vectors", "n": n, "sigma": args.sigma, "queries": str(tmp / "queries.npy")}, tmp, 1800)})
        if "sparql" in parts:
            log(f"sparql x{copies} ...")
            result["sparql"] = run_worker("sparql", {
                **common, "kind": "sparql", "copies": copies, "embedded_max": 10, "try_100": not args.copies and not args.quick,
                "reps": args.reps, "query_budget_s": 20.0}, tmp, 1800)
        if "bm25" in parts:
            for n in bm25_sizes:
                log(f"bm25 {n:,} ...")
                result["bm25"].append({"n": n, **run_worker(f"bm25-{n}", {**common, "kind": "bm25", "n": n}, tmp, 1800)})
    finally:
        stopped = reap(tmp / "pids", tmp)
        if stopped:
            result["notes"].append(f"- stopped leftover processes at the end: {stopped}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    result["wall_s"] = time.perf_counter() - started
    result["loadavg_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    result["notes"] += notes(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(report(result))


def notes(r: dict[str, Any]) -> list[str]:
    """What the figures mean, and the extrapolations that are not in the sizing table."""
    out = ["Notes:"]
    st = r.get("store", {})
    if st:
        out.append(f"- copied store: {st['documents']} documents, {st['passages']:,} passages, SQLite {st['sqlite_bytes'] / 2**20:.0f} MB "
                   f"({st['sqlite_bytes'] / st['passages']:.0f} B/passage); saved faiss {st['faiss_bytes'] / st['passages']:.0f} "
                   f"B/passage, saved bm25s {st['bm25_bytes'] / st['passages']:.0f} B/passage")
    c = r.get("corpus")
    if c:
        out.append(f"- synthetic corpus: {c['documents']} documents, {c['bytes'] / 2**20:.1f} MB, written in {c['seconds']:.1f} s "
                   f"(ingest used a sample of {r['args']['ingest_docs']} under 100 KB)")
    for b in r.get("bm25", []):
        if "error" in b:
            continue
        si = b["single"]
        per = si["rss_mb"] * 2**20 / b["n"]
        out.append(f"- BM25 at 10^7 passages: one bm25s index ~{per * 1e7 / 2**30:.1f} GiB RSS ({per:.0f} B/passage at {b['n']:,}; "
                   f"score arrays {si['arrays_mb'] * 2**20 / b['n']:.0f} B/passage) in every API process; query p50 grows ~linearly "
                   f"with postings (x{1e7 / b['n']:.0f} → ~{si['query']['p50_ms'] * 1e7 / b['n']:.0f} ms); "
                   f"the token lists of a rebuild add {b['rss_token_lists_mb'] * 2**20 / b['n']:.0f} B/passage while it runs")
    out.append("- vectors: synthetic passage i = real passage i mod N + noise, so ~n/N near-copies of each real passage whose "
               "order is noise only: recall@10 of an approximate index looks worse than on real data; (same source) counts "
               "a copy of the same real passage as a hit. Filtered = the product's paths: faiss with an IDSelectorBatch of the "
               "allowed ids, Milvus with a year expression")
    out.append("- Milvus Lite (milvus-lite 3.x) is a pure-Python server: segments of <= 100k rows, each with its own faiss "
               "HNSW (AUTOINDEX: M 16, efConstruction 200, ef 64 unless the search passes one), built in the background after "
               "a flush (the index column above waits for it); its latencies say nothing about a Milvus cluster, its "
               "recall does say what MilvusIndex gets from Lite")
    out.append("- Oxigraph bulk = POST /store?graph=…&no_transaction (its bulk loader); one transaction per POST is slower and "
               "grows superlinearly; graph copies are disjoint (every https://policykg.org/id/ URI suffixed per copy)")
    out.append("- ratio = scaled out / embedded (time, memory: > 1 means the scaled-out side costs more on this one machine)")
    out.append(f"- total wall {r['wall_s'] / 60:.1f} min; load avg at the end {r.get('loadavg_end', '?')}")
    return out


if __name__ == "__main__":
    main()
