"""Speed and memory of policykg search against a plain faiss IndexFlatIP + rank-bm25 baseline.

    python bench/search.py --data /tmp/full                    # 500-passage embed sample, 10k/100k/1M
    python bench/search.py --data /tmp/full --all --json out.json
    python bench/search.py --data /tmp/full --scales 10000,100000 --backends torch

Measured in one run (the machine is shared and noisy: compare ratios within a run, not across runs):
- embedding throughput (passages/s) on real passage texts, for each encoder backend, at the ingest
  settings (batch 32, length-sorted, threads = os.cpu_count());
- query latency p50/p95 *including query encoding* at each scale, for ours (FaissIndex: flat up to
  100k, HNSW beyond; bm25s BM25Index; weighted RRF fusion) and the baseline (faiss.IndexFlatIP +
  rank_bm25.BM25Okapi, same fusion). Scale-up is synthetic: real vectors + N(0, sigma) noise,
  renormalised, and real token lists replicated;
- index build time and peak RSS; every scale runs in its own subprocess so RSS is per scale.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import (
    load_queries,
    peak_rss_mb,
    percentiles,
    pin_threads,
    reset_peak_rss,
    rss_mb,
    synthetic_vectors,
    timed,
)

if TYPE_CHECKING:
    from policykg.graph.store import SQLiteStore

TARGETS = {"embed_pps": 80.0, "p50_100k_ms": 30.0, "p50_1m_ms": 60.0, "rss_1m_mb": 2048.0}
RANK_BM25_LIMIT = 100_000  # rank-bm25 scores in pure Python per document: extrapolated beyond this
DEPTH = 100  # candidates per ranker, as FusionWeights.depth
P50_P95 = (50, 95)


def encoder_name(backend: str) -> str:
    from policykg.search.encoders import DEFAULT_MODEL

    return DEFAULT_MODEL if backend == "torch" else f"{DEFAULT_MODEL}@{backend}"


def open_store(data: Path) -> SQLiteStore:
    """The store of a data directory, without its configured servers (the bench reads it only)."""
    from policykg.graph.store import SQLiteStore

    return SQLiteStore(data / "policykg.sqlite", readonly=True)


# ------------------------------------------------------------------------------------ embedding


def bench_embedding(data: Path, backends: list[str], sample: int | None, rounds: int, threads: int) -> dict[str, Any]:
    """passages/s of each backend on the same real passages; rounds interleave the backends."""
    from policykg.search.encoders import make_encoder

    store = open_store(data)
    texts = [p.embed_text or p.text for p in store.passages()]
    store.close()
    if sample and sample < len(texts):
        rng = np.random.default_rng(0)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), sample, replace=False))]
    encoders = {}
    for b in backends:
        t0 = time.perf_counter()
        encoders[b] = make_encoder(encoder_name(b), threads=threads)
        encoders[b].encode_passages(texts[:8])  # warm-up
        print(f"  loaded {b} encoder in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    queries = load_queries(20)
    times: dict[str, list[float]] = {b: [] for b in backends}
    cpu: dict[str, list[float]] = {b: [] for b in backends}
    qtimes: dict[str, list[float]] = {b: [] for b in backends}
    vecs: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for b, enc in encoders.items():
            t0, c0 = time.perf_counter(), time.process_time()
            vecs[b] = enc.encode_passages(texts, batch_size=32)
            times[b].append(time.perf_counter() - t0)
            cpu[b].append(time.process_time() - c0)
            for q in queries:
                t0 = time.perf_counter()
                enc.encode_queries([q])
                qtimes[b].append(time.perf_counter() - t0)
    out: dict[str, Any] = {"passages": len(texts), "mean_chars": float(np.mean([len(t) for t in texts]))}
    for b in backends:
        best = float(np.median(times[b]))
        out[b] = {
            "passages_per_s": len(texts) / best, "seconds": best, "query_encode": percentiles(qtimes[b], P50_P95),
            # CPU seconds: less sensitive than wall time to other jobs on a shared machine
            "passages_per_cpu_s": len(texts) / float(np.median(cpu[b])),
        }  # fmt: skip
    if "torch" in vecs:
        for b in backends:
            if b != "torch":
                cos = (vecs[b] * vecs["torch"]).sum(axis=1)
                out[b]["cosine_vs_torch_min"] = float(cos.min())
                out[b]["cosine_vs_torch_mean"] = float(cos.mean())
    return out


# ----------------------------------------------------------------------------------- scale worker


def synthetic(data: Path, n: int, sigma: float) -> tuple[np.ndarray, np.ndarray, list[list[str]], int]:
    """``n`` ids, vectors (real + noise, renormalised), token lists (real, replicated), number of real ones."""
    store = open_store(data)
    _, base = store.passage_vectors(store.vector_dim() or 384)
    _, tokens = store.passage_tokens()
    store.close()
    vecs = synthetic_vectors(base, n, sigma, seed=42)
    toks = [tokens[i % len(tokens)] for i in range(n)]
    return np.arange(1, n + 1, dtype=np.int64), vecs, toks, len(base)


def timed_queries(queries: Sequence[Any], run: Callable[[Any], object], warmup: int = 3) -> dict[str, float]:
    """p50/p95 of ``run`` over ``queries`` (after ``warmup`` untimed calls)."""
    return timed(queries, run, warmup=warmup, points=P50_P95)


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One scale, in its own process: build ours and the baseline, time queries end to end."""
    threads = args.threads
    pin_threads(threads)
    from policykg.search.encoders import load_encoder
    from policykg.search.local_index import BM25Index, FaissIndex
    from policykg.search.ranking import Candidates, FusionWeights, fuse, top_k
    from policykg.search.tokenize import Tokenizer

    n = args.worker
    res: dict[str, Any] = {"scale": n, "threads": threads}
    encoder = load_encoder(encoder_name(args.backend))
    queries = load_queries(args.queries)
    encoder.encode_queries(queries[:2])
    store = open_store(args.data)
    tokenize = Tokenizer.from_regulations(store.regulations()).tokenize  # the store's words, as the searcher's
    store.close()
    for q in queries:
        tokenize(q)  # jieba's dictionary loads on first use
    res["rss_encoder_mb"] = rss_mb()
    res["peak_rss_encoder_load_mb"] = peak_rss_mb()
    reset_peak_rss()

    t0 = time.perf_counter()
    ids, vecs, toks, n_real = synthetic(args.data, n, args.sigma)
    res["synth_s"] = time.perf_counter() - t0
    res["rss_inputs_mb"] = rss_mb()
    weights = FusionWeights()

    # -- ours
    t0 = time.perf_counter()
    vindex = FaissIndex.build(ids, vecs, args.kind, threads)
    res["ours_faiss_build_s"] = time.perf_counter() - t0
    import faiss

    res["ours_faiss_kind"] = type(faiss.downcast_index(vindex.index.index)).__name__  # type: ignore[attr-defined]
    rss_before_bm25 = rss_mb()
    t0 = time.perf_counter()
    bm25 = BM25Index.build(ids, toks)
    res["ours_bm25_build_s"] = time.perf_counter() - t0
    res["ours_bm25_mb"] = rss_mb() - rss_before_bm25
    res["ours_peak_rss_mb"] = peak_rss_mb()

    def ours(q: str) -> list[tuple[int, float]]:
        qv = encoder.encode_queries([q])
        scores, found = vindex.search(qv, DEPTH)
        keep = found[0] >= 0
        dense = Candidates(found[0][keep], scores[0][keep])
        raw = bm25.scores(tokenize(q))
        return fuse(dense, top_k(raw, bm25.ids, DEPTH), weights)

    res["ours"] = timed_queries(queries, ours)
    res["encode_only"] = timed_queries(queries, lambda q: encoder.encode_queries([q]))
    qvecs = encoder.encode_queries(queries)
    qtoks = [tokenize(q) for q in queries]
    res["ours_dense_only"] = timed_queries(range(len(queries)), lambda i: vindex.search(qvecs[i : i + 1], DEPTH))
    res["ours_bm25_only"] = timed_queries(
        range(len(queries)), lambda i: top_k(bm25.scores(qtoks[i]), bm25.ids, DEPTH)
    )
    del toks
    gc.collect()
    res["ours_rss_after_build_mb"] = rss_mb()  # inputs (token lists) freed; vectors kept for the baseline

    # -- baseline: faiss.IndexFlatIP + rank_bm25.BM25Okapi, same fusion
    t0 = time.perf_counter()
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    res["base_faiss_build_s"] = time.perf_counter() - t0
    if res["ours_faiss_kind"] != "IndexFlatIP":  # recall@10 of the approximate index vs exact search
        _, exact = flat.search(qvecs, 10)
        _, approx = vindex.search(qvecs, 10)
        res["ours_dense_recall@10_vs_exact"] = float(
            np.mean([len(set(a) & set(ids[e])) / 10 for a, e in zip(approx.tolist(), exact, strict=True)])
        )
        # the synthetic set holds ~n/n_real noisy copies of each real passage, whose order is noise: also
        # count a hit when HNSW returns a copy of the same real passage
        _, exact100 = flat.search(qvecs, 100)
        src_exact = [{int(ids[i] - 1) % n_real for i in row[:10]} for row in exact100]
        src_approx = [{(i - 1) % n_real for i in row if i > 0} for row in approx.tolist()]
        res["ours_dense_source_recall@10"] = float(
            np.mean([len(a & e) / len(e) for a, e in zip(src_approx, src_exact, strict=True)])
        )
    base_bm25 = None
    if n <= RANK_BM25_LIMIT:
        from rank_bm25 import BM25Okapi

        base_toks = [t if t else ["\u2400"] for t in synthetic_tokens(args.data, n)]
        t0 = time.perf_counter()
        base_bm25 = BM25Okapi(base_toks, k1=1.2, b=0.75)
        res["base_bm25_build_s"] = time.perf_counter() - t0
        del base_toks

    def baseline(q: str) -> list[tuple[int, float]]:
        qv = encoder.encode_queries([q])
        scores, found = flat.search(qv, DEPTH)
        dense = Candidates(ids[found[0]], scores[0])
        bm = Candidates()
        if base_bm25 is not None:
            bm = top_k(np.asarray(base_bm25.get_scores(tokenize(q)), dtype=np.float32), ids, DEPTH)
        return fuse(dense, bm, weights)

    res["baseline"] = timed_queries(queries[: args.baseline_queries], baseline, warmup=1)
    res["base_dense_only"] = timed_queries(
        range(len(queries)), lambda i: flat.search(qvecs[i : i + 1], DEPTH)
    )
    if base_bm25 is None:
        res["baseline_note"] = f"rank-bm25 not run above {RANK_BM25_LIMIT:,} passages (see extrapolation)"
    res["peak_rss_mb"] = max(peak_rss_mb(), res["ours_peak_rss_mb"])
    return res


def synthetic_tokens(data: Path, n: int) -> list[list[str]]:
    store = open_store(data)
    _, tokens = store.passage_tokens()
    store.close()
    return [tokens[i % len(tokens)] for i in range(n)]


def run_scale(args: argparse.Namespace, n: int) -> dict[str, Any]:
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--worker", str(n), "--data", str(args.data),
        "--threads", str(args.threads), "--backend", args.backend, "--queries", str(args.queries),
        "--baseline-queries", str(args.baseline_queries), "--sigma", str(args.sigma), "--kind", args.kind,
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"scale": n, "error": proc.stderr.strip().splitlines()[-1:] or ["failed"], "wall_s": time.perf_counter() - t0}
    res: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = time.perf_counter() - t0
    return res


# ------------------------------------------------------------------------------------------ report


def _ok(value: float | None, target: float, higher: bool = False) -> str:
    if value is None:
        return "n/a"
    return "OK" if (value >= target if higher else value <= target) else "MISS"


def report(result: dict[str, Any]) -> str:
    lines = [
        f"policykg search bench  ({result['threads']} threads, {result['cpu']}, "
        f"OMP_WAIT_POLICY={result.get('omp_wait_policy', 'default')}, load avg {result.get('loadavg', '?')})",
        "",
    ]
    emb = result.get("embedding")
    if emb:
        lines.append(f"Embedding: {emb['passages']} real passages, mean {emb['mean_chars']:.0f} chars, batch 32, length-sorted")
        lines.append(
            f"  {'backend':12} {'passages/s':>10} {'x torch':>8} {'per CPU-s':>9} {'x torch':>8} {'query enc p50':>14} "
            f"{'cos vs torch':>13}  target >= {TARGETS['embed_pps']:.0f}/s"
        )
        base = emb.get("torch", {}).get("passages_per_s")
        base_cpu = emb.get("torch", {}).get("passages_per_cpu_s")
        for b in result["backends"]:
            e = emb[b]
            ratio = f"{e['passages_per_s'] / base:.2f}" if base else "-"
            ratio_cpu = f"{e['passages_per_cpu_s'] / base_cpu:.2f}" if base_cpu else "-"
            cos = f"{e['cosine_vs_torch_min']:.4f}" if "cosine_vs_torch_min" in e else "-"
            lines.append(
                f"  {b:12} {e['passages_per_s']:10.1f} {ratio:>8} {e['passages_per_cpu_s']:9.1f} {ratio_cpu:>8} "
                f"{e['query_encode']['p50_ms']:11.1f} ms {cos:>13}  "
                f"{_ok(e['passages_per_s'], TARGETS['embed_pps'], higher=True)}"
            )
        lines.append("")
    lines.append(f"Query latency incl. query encoding ({result['query_backend']} encoder), ms; build s; RSS MB")
    hdr = (f"  {'scale':>9} {'ours':>5} {'p50':>7} {'p95':>7} {'base p50':>9} {'base p95':>9} {'enc p50':>8} {'dense':>6} "
           f"{'bm25':>6} {'faiss bld':>9} {'bm25 bld':>8} {'base bm25 bld':>13} {'peak RSS':>9} {'target':>12}")  # fmt: skip
    lines.append(hdr)
    extrap = None
    for s in result["scales"]:
        n = s["scale"]
        if "error" in s:
            lines.append(f"  {n:>9,} ERROR {s['error']}")
            continue
        target = TARGETS["p50_100k_ms"] if n <= 100_000 else TARGETS["p50_1m_ms"]
        kind = "flat" if s["ours_faiss_kind"] == "IndexFlatIP" else "hnsw"
        base_p50 = f"{s['baseline']['p50_ms']:9.1f}"
        base_p95 = f"{s['baseline']['p95_ms']:9.1f}"
        bb = f"{s['base_bm25_build_s']:13.1f}" if "base_bm25_build_s" in s else f"{'skipped':>13}"
        if "base_bm25_build_s" in s:
            extrap = (n, s["baseline"]["p50_ms"] - s["base_dense_only"]["p50_ms"] - s["encode_only"]["p50_ms"], s["base_bm25_build_s"])
        elif extrap:
            f = n / extrap[0]
            base_p50 = f"~{s['encode_only']['p50_ms'] + s['base_dense_only']['p50_ms'] + extrap[1] * f:8.0f}"
            base_p95 = f"{'(extrap)':>9}"
            bb = f"~{extrap[2] * f:12.0f}"
        rss_target = f" rss {_ok(s['peak_rss_mb'], TARGETS['rss_1m_mb'])}" if n >= 1_000_000 else ""
        lines.append(
            f"  {n:>9,} {kind:>5} {s['ours']['p50_ms']:7.1f} {s['ours']['p95_ms']:7.1f} {base_p50} {base_p95} "
            f"{s['encode_only']['p50_ms']:8.1f} {s['ours_dense_only']['p50_ms']:6.1f} {s['ours_bm25_only']['p50_ms']:6.1f} "
            f"{s['ours_faiss_build_s']:9.1f} {s['ours_bm25_build_s']:8.1f} {bb} {s['ours_peak_rss_mb']:9.0f} "
            f"{'p50 ' + _ok(s['ours']['p50_ms'], target):>8}{rss_target}"
        )
    lines.append("")
    lines.append("  dense/bm25 = p50 of that stage alone (ours); base dense p50 per scale: "
                 + ", ".join(f"{s['scale']:,}: {s['base_dense_only']['p50_ms']:.1f}" for s in result["scales"] if "error" not in s))
    for s in result["scales"]:
        if "error" in s:
            continue
        extra = ""
        if "ours_dense_recall@10_vs_exact" in s:
            extra = (f", HNSW recall@10 vs exact {s['ours_dense_recall@10_vs_exact']:.3f} "
                     f"(same source passage: {s['ours_dense_source_recall@10']:.3f})")  # fmt: skip
        lines.append(
            f"  {s['scale']:>9,}: RSS encoder {s['rss_encoder_mb']:.0f} (load peak {s.get('peak_rss_encoder_load_mb', 0):.0f}), +inputs {s['rss_inputs_mb']:.0f}, peak after our build "
            f"{s['ours_peak_rss_mb']:.0f}, after freeing inputs {s['ours_rss_after_build_mb']:.0f} (bm25s +{s['ours_bm25_mb']:.0f}), "
            f"whole worker peak {s['peak_rss_mb']:.0f}{extra}"
        )
    lines.append("  ~ = rank-bm25 extrapolated linearly from the largest scale it ran at (it scores every document in Python)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("/tmp/full"), help="a store with the corpus ingested (read only)")
    ap.add_argument("--sample", type=int, default=500, help="passages for the embedding throughput")
    ap.add_argument("--all", action="store_true", help="embed every passage")
    ap.add_argument("--rounds", type=int, default=1, help="embedding rounds (median; backends interleaved)")
    ap.add_argument("--backends", default="torch,onnx-int8", help="encoder backends for the embedding test")
    ap.add_argument("--backend", default="torch", help="encoder backend for query encoding in the latency test")
    ap.add_argument("--scales", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=40, help="queries per scale (from bench/data/queries.jsonl)")
    ap.add_argument("--baseline-queries", type=int, default=20, help="queries for the (slow) baseline")
    ap.add_argument("--sigma", type=float, default=0.01, help="noise per dimension of the synthetic vectors")
    ap.add_argument("--kind", default="auto", help="FaissIndex kind: auto | flat | hnsw")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-embedding", action="store_true")
    ap.add_argument(
        "--passive", action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep instead of spinning (matters on a busy machine)",
    )  # fmt: skip
    ap.add_argument("--json", type=Path, nargs="?", const=Path("-"), help="write the results as JSON (- = stdout)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before torch/faiss load; inherited by the workers
    if args.worker:
        print(json.dumps(worker(args)))
        return
    pin_threads(args.threads)
    import platform

    result: dict[str, Any] = {
        "threads": args.threads, "cpu": f"{os.cpu_count()} cpus, {platform.processor() or platform.machine()}",
        "backends": [b for b in args.backends.split(",") if b], "query_backend": args.backend, "scales": [],
        "targets": TARGETS, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }  # fmt: skip
    if not args.skip_embedding:
        print("embedding throughput ...", file=sys.stderr)
        result["embedding"] = bench_embedding(args.data, result["backends"], None if args.all else args.sample, args.rounds, args.threads)
    for n in [int(x) for x in args.scales.split(",") if x]:
        print(f"scale {n:,} ...", file=sys.stderr)
        result["scales"].append(run_scale(args, n))
        print(f"  done in {result['scales'][-1]['wall_s']:.0f} s", file=sys.stderr)
    result["loadavg"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        text = json.dumps(result, indent=2)
        if str(args.json) == "-":
            print(text)
            return
        args.json.write_text(text + "\n", encoding="utf-8")
    print(report(result))


if __name__ == "__main__":
    main()
