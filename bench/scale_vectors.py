"""bench/scale.py, part 3: vector search at n synthetic passages (real vectors + noise), faiss as the product
builds it against MilvusIndex on a Milvus Lite server; recall@10 against exact numpy search."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import dir_mb, error_text, load_queries, log, pin_threads, rss_mb, synthetic_vectors, timed, trim
from scale_ingest import virtual_issuer
from servers import running, start_milvus

K = 50  # neighbours per vector query


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

    from policykg.search.local_index import FaissIndex

    trim()
    rss1 = rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex.build(ids, vecs, "auto", threads)
    res: dict[str, Any] = {"build_s": time.perf_counter() - t0, "rss_mb": rss_mb() - rss1}
    res["index_mb"] = faiss.serialize_index(index.index).nbytes / 2**20  # type: ignore[arg-type]  # vectors + graph + id map
    res["kind"] = type(faiss.downcast_index(index.index.index)).__name__  # type: ignore[attr-defined]
    rows = list(range(len(qv)))
    answers: list[Any] = []
    res["query"] = timed(rows, lambda i: index.search(qv[i: i + 1], K), out=answers)
    res["recall@10"], res["src_recall@10"] = recalls(answers, exact_ids, n_real)
    allowed = ids[mask]
    answers = []
    res["filtered"] = timed(rows, lambda i: index.search(qv[i: i + 1], K, allowed=allowed), out=answers)
    res["filtered_recall@10"], res["filtered_src_recall@10"] = recalls(answers, exact_f_ids, n_real)
    res["filtered_short"] = float(np.mean([(a[1][0][:10] < 0).sum() for a in answers]))
    return res


def _bench_milvus(server: Any, n: int, ids: np.ndarray, vecs: np.ndarray, rows_of: list[Any], qv: np.ndarray, year: int,
                  exact_ids: np.ndarray, exact_f_ids: np.ndarray, n_real: int, budget: float) -> dict[str, Any]:
    """MilvusIndex on a Milvus Lite server: insert, flush and index wait, latency, recall, filtered search."""
    from policykg.search.filters import Filters
    from policykg.search.milvus import MilvusIndex, milvus_filter

    res: dict[str, Any] = {"rss_empty_mb": rss_mb(server.proc.pid, children=True)}
    index = MilvusIndex(server.url, f"scale_{n}", timeout=600)
    t0 = time.perf_counter()
    index.add(rows_of, vecs)
    res["insert_s"] = time.perf_counter() - t0
    rows_of.clear()
    t0 = time.perf_counter()
    res["count"] = index.count()  # flushes
    res["flush_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res["segments"], res["indexed"] = wait_indexed(server.data, timeout=900)
    res["index_wait_s"] = time.perf_counter() - t0
    res["build_s"] = res["insert_s"] + res["flush_s"] + res["index_wait_s"]
    index.search(qv[:1], K)
    rows = list(range(len(qv)))
    where = milvus_filter(Filters(year=year))
    # MilvusIndex as the product runs it (ef 512, 4096 when filtered)
    answers: list[Any] = []
    res["query"] = timed(rows, lambda i: index.search(qv[i: i + 1], K), budget_s=budget, min_n=10, out=answers)
    res["recall@10"], res["src_recall@10"] = recalls(answers, exact_ids, n_real)
    answers = []
    res["filtered"] = timed(rows, lambda i: index.search(qv[i: i + 1], K, where=where), budget_s=budget, min_n=10, out=answers)
    res["filtered_recall@10"], res["filtered_src_recall@10"] = recalls(answers, exact_f_ids, n_real)
    res["filtered_short"] = float(np.mean([(a[1][0][:10] < 0).sum() for a in answers]))
    res["rss_mb"] = rss_mb(server.proc.pid, children=True)
    res["disk_mb"] = dir_mb(server.data)
    return res


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
    from policykg.search.milvus import PassageRow

    n, tmp = int(spec["n"]), Path(spec["tmp"])
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    real_ids, base = store.passage_vectors(store.vector_dim() or 384)
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
    with running(start_milvus(tmp / f"milvus-{n}")) as server:
        try:
            docs = [meta[int(i)] for i in real_ids]
            passage_rows = [
                PassageRow(int(ids[j]), f"{docs[s]['doc_id']}-c{c}", int(years[j]) if years[j] >= 0 else None,
                           docs[s]["doc_type"], virtual_issuer(docs[s]["issuer"], c + 1) if docs[s]["issuer"] else None)
                for j, (s, c) in enumerate(zip(src.tolist(), copy.tolist(), strict=True))
            ]  # fmt: skip
            res["milvus"] = _bench_milvus(server, n, ids, vecs, passage_rows, qv, year, exact_ids, exact_f_ids, n_real,
                                          spec.get("milvus_budget_s", 15.0))  # fmt: skip
        except Exception as exc:
            res["milvus"] = {"error": error_text(exc)}
    return res


# ------------------------------------------------------------------------------------------------------------
# Standalone: the faiss kinds compared on memory (an index as a serving process loads it), recall and latency.

COMPARE_DOC = """Compare faiss index kinds at n synthetic passages (real corpus vectors + noise), as a serving process holds them.

    python bench/scale_vectors.py --store DIR [--sizes 100000,300000] [--kinds flat,hnsw,ivf-sq8] [--sigma 0.01]

For each size and kind, one subprocess builds the index as the product does (FaissIndex.build) and writes it as
LocalIndex does; a second, fresh subprocess loads it (FaissIndex.load: ivf-sq8 keeps its full vectors memory-mapped)
and answers the bench queries (bench/data/queries.jsonl, encoded by the configured encoder) unfiltered and filtered
to the commonest year. Printed per kind: build s, file MB, serving RSS growth (load + queries; the pages of the
memory-mapped full vectors the queries touched count), p50/p99 ms per query (k=50, one thread), recall@10 against
exact numpy search, unfiltered and filtered; and the ratios to the first kind.
"""


def _compare_build(spec: dict[str, Any]) -> dict[str, Any]:
    """Subprocess 1: synthetic vectors, exact answers, the index built and written to ``spec["dir"]``."""
    from policykg.search.local_index import VECTORS_FILE, FaissIndex

    pin_threads(spec["threads"])
    base, qv = np.load(spec["base"]), np.load(spec["queries"])
    n, out = int(spec["n"]), Path(spec["dir"])
    out.mkdir(parents=True, exist_ok=True)
    vecs = synthetic_vectors(base, n, spec["sigma"])
    ids = np.arange(1, n + 1, dtype=np.int64)
    years = np.load(spec["years"])[np.arange(n) % len(base)] + (np.arange(n) // len(base)) % 5
    vals, counts = np.unique(years[years >= 0], return_counts=True)
    mask = years == int(vals[np.argmax(counts)])
    np.save(out / "exact.npy", ids[exact_top(vecs, qv, 10)])
    np.save(out / "exact_filtered.npy", ids[exact_top(vecs, qv, 10, mask)])
    np.save(out / "allowed.npy", ids[mask])
    rss0 = rss_mb()
    t0 = time.perf_counter()
    index = FaissIndex.build(ids, vecs, spec["kind"], spec["threads"])
    res: dict[str, Any] = {"build_s": time.perf_counter() - t0, "build_rss_growth_mb": rss_mb() - rss0, "kind_built": index.kind}
    index.save(out / VECTORS_FILE)
    res["file_mb"] = dir_mb(out) - sum(f.stat().st_size for f in out.glob("*.npy") if f.name.startswith(("exact", "allowed"))) / 2**20
    res["filter_share"] = float(mask.mean())
    return res


def _compare_serve(spec: dict[str, Any]) -> dict[str, Any]:
    """Subprocess 2: a fresh process loads the index and answers the queries (as a server would)."""
    from policykg.search.local_index import VECTORS_FILE, FaissIndex

    pin_threads(1)
    out = Path(spec["dir"])
    qv = np.load(spec["queries"])
    exact, exact_f, allowed = np.load(out / "exact.npy"), np.load(out / "exact_filtered.npy"), np.load(out / "allowed.npy")
    trim()
    rss0 = rss_mb()
    index = FaissIndex.load(out / VECTORS_FILE)
    res: dict[str, Any] = {"load_rss_mb": rss_mb() - rss0}
    rows = list(range(len(qv)))
    answers: list[Any] = []
    res["query"] = timed(rows, lambda i: index.search(qv[i: i + 1], K), out=answers)
    res["recall@10"], _ = recalls(answers, exact, len(qv) + 10**12)
    answers = []
    res["filtered"] = timed(rows, lambda i: index.search(qv[i: i + 1], K, allowed=allowed), out=answers)
    res["filtered_recall@10"], _ = recalls(answers, exact_f, len(qv) + 10**12)
    res["serve_rss_mb"] = rss_mb() - rss0
    return res


def _run_sub(fn: str, spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    import json
    import subprocess
    import sys

    path = tmp / f"{fn}-{spec['n']}-{spec['kind']}.json"
    path.write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, __file__, "--part", fn, str(path)], capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return dict(json.loads(path.with_suffix(".out").read_text()))


def compare_main() -> None:
    """Entry point of the standalone comparison (see COMPARE_DOC)."""
    import argparse
    import json
    import shutil
    import sys
    import tempfile

    if len(sys.argv) == 4 and sys.argv[1] == "--part":
        spec = json.loads(Path(sys.argv[3]).read_text())
        res = {"_compare_build": _compare_build, "_compare_serve": _compare_serve}[sys.argv[2]](spec)
        Path(sys.argv[3]).with_suffix(".out").write_text(json.dumps(res))
        return
    ap = argparse.ArgumentParser(description=COMPARE_DOC.splitlines()[0], epilog=COMPARE_DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, required=True, help="a data directory with the corpus ingested (read only)")
    ap.add_argument("--sizes", default="100000,300000")
    ap.add_argument("--kinds", default="flat,hnsw,ivf-sq8")
    ap.add_argument("--sigma", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from policykg.graph.store import SQLiteStore
    from policykg.search.encoders import load_encoder

    with tempfile.TemporaryDirectory(prefix="pkg-vectors-") as tmp_name:
        tmp = Path(tmp_name)
        store = SQLiteStore(args.store / "policykg.sqlite", readonly=True)
        real_ids, base = store.passage_vectors(store.vector_dim() or 384)
        meta = {r["id"]: r for r in store.passage_meta()}
        store.close()
        np.save(tmp / "base.npy", base)
        np.save(tmp / "years.npy", np.array([meta[int(i)]["year"] if meta[int(i)]["year"] is not None else -1000 for i in real_ids]))
        np.save(tmp / "queries.npy", load_encoder().encode_queries(load_queries()).astype(np.float32))
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
        lines = [f"{'n':>9} {'kind':<8} {'build s':>8} {'file MB':>8} {'serve RSS MB':>12} {'p50 ms':>7} {'p99 ms':>7} "
                 f"{'R@10':>6} {'filt p50':>8} {'filt R@10':>9}  ratios to {kinds[0]} (RSS, p50)"]
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            first: dict[str, Any] | None = None
            for kind in kinds:
                spec = {"n": n, "kind": kind, "sigma": args.sigma, "threads": args.threads, "base": str(tmp / "base.npy"),
                        "years": str(tmp / "years.npy"), "queries": str(tmp / "queries.npy"), "dir": str(tmp / f"index-{n}-{kind}")}
                log(f"  {kind} at {n:,}: build ...")
                res = _run_sub("_compare_build", spec, tmp)
                if "error" not in res:
                    log(f"  {kind} at {n:,}: serve ...")
                    res.update(_run_sub("_compare_serve", spec, tmp))
                shutil.rmtree(spec["dir"], ignore_errors=True)
                if "error" in res:
                    lines.append(f"{n:>9,} {kind:<8} error: {res['error']}")
                    print(lines[-1], flush=True)
                    continue
                first = first or res
                lines.append(
                    f"{n:>9,} {kind:<8} {res['build_s']:8.1f} {res['file_mb']:8.0f} {res['serve_rss_mb']:12.0f} "
                    f"{res['query']['p50_ms']:7.2f} {res['query']['p99_ms']:7.2f} {res['recall@10']:6.3f} "
                    f"{res['filtered']['p50_ms']:8.2f} {res['filtered_recall@10']:9.3f}  "
                    f"{res['serve_rss_mb'] / first['serve_rss_mb']:.2f}×, {res['query']['p50_ms'] / first['query']['p50_ms']:.2f}×"
                )
                print(lines[-1], flush=True)
        print(f"\nfilter: the commonest year, {res.get('filter_share', float('nan')):.1%} of the passages; sigma {args.sigma}; "
              f"{len(np.load(tmp / 'queries.npy'))} queries")
        print("\n".join(lines))


if __name__ == "__main__":
    compare_main()
