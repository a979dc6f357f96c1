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

Parts 1-2 are in scale_ingest.py, 3 in scale_vectors.py, 4 in scale_sparql.py, 5 in scale_bm25.py, the
table, sizing and notes in scale_report.py; this file runs each part in a subprocess and stops leftovers.

Only 127.0.0.1 is contacted. Every server and Ray process is started here and stopped by PID, also
on errors. The machine is shared and noisy: compare the ratios of one run, not runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import copy_store, dir_mb, error_text, load_queries, log, peak_rss_mb, pin_threads
from processes import reap
from scale_bm25 import work_bm25
from scale_ingest import grow_corpus, work_ingest
from scale_report import NODE_RAM_GIB, notes, report
from scale_sparql import work_sparql
from scale_vectors import work_vectors

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("POLICYKG_CORPUS", ROOT.parent / "shared" / "corpus"))


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


def worker_main(spec_path: Path) -> None:
    """Run the part a spec file names (in the subprocess ``run_worker`` started); write its figures as JSON."""
    def term(*_: object) -> None:
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, term)
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    pin_threads(spec["threads"])
    work = {"ingest": work_ingest, "vectors": work_vectors, "sparql": work_sparql, "bm25": work_bm25}[spec["kind"]]
    try:
        res = work(spec)
    except Exception as exc:
        import traceback

        traceback.print_exc()
        res = {"error": error_text(exc), "n": spec.get("n", 0)}
    res["peak_rss_mb"] = peak_rss_mb()
    Path(spec["out"]).write_text(json.dumps(res), encoding="utf-8")


def store_stats(data: Path) -> dict[str, Any]:
    """Counts and sizes of the copied store: documents, passages, text, SQLite, saved faiss and bm25s indexes."""
    from policykg.graph.store import SQLiteStore

    store = SQLiteStore(data / "policykg.sqlite", readonly=True)
    counts = store.counts()
    out = {"documents": counts["documents"], "passages": counts["passages"]}
    out["text_bytes"] = sum(len((p.embed_text or "").encode("utf-8")) for p in store.passages())
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
    os.environ["POLICYKG_TEST_PIDS"] = str(tmp / "pids")  # servers.py records the server PIDs there
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
        copy_store(args.store, data)
        result["store"] = store_stats(data)
        base_spec = {"threads": args.threads, "store": str(data), "tmp": str(tmp)}

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
            result["ingest"] = run_worker("ingest", {**base_spec, "kind": "ingest", "files": files, "manifest": str(manifest)}, tmp, 1800)

        if "vectors" in parts:
            from policykg.search.encoders import load_encoder

            log("encoding the query vectors ...")
            qv = load_encoder().encode_queries(load_queries(args.queries))
            np.save(tmp / "queries.npy", qv)
            for n in sizes:
                log(f"vectors {n:,} ...")
                result["vectors"].append({"n": n, **run_worker(f"vectors-{n}", {
                    **base_spec, "kind": "vectors", "n": n, "sigma": args.sigma, "queries": str(tmp / "queries.npy")}, tmp, 1800)})
        if "sparql" in parts:
            log(f"sparql x{copies} ...")
            result["sparql"] = run_worker("sparql", {
                **base_spec, "kind": "sparql", "copies": copies, "embedded_max": 10, "try_100": not args.copies and not args.quick,
                "reps": args.reps, "query_budget_s": 20.0}, tmp, 1800)
        if "bm25" in parts:
            for n in bm25_sizes:
                log(f"bm25 {n:,} ...")
                result["bm25"].append({"n": n, **run_worker(f"bm25-{n}", {**base_spec, "kind": "bm25", "n": n}, tmp, 1800)})
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


if __name__ == "__main__":
    main()
