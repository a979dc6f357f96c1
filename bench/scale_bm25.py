"""bench/scale.py, part 5: BM25 (bm25s) at n synthetic passages, one index against SHARDS shards with merged
top-k (latency, top-10 overlap, memory)."""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import dir_mb, load_queries, log, percentiles, rss_mb, timed, trim

SHARDS = 4


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
    from policykg.search.local_index import BM25Index
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
    top = [run(i).ids[:10].tolist() for i in rows]
    # as a serving process holds it: read back from disk into memory, or left on disk and read by column (the default)
    with tempfile.TemporaryDirectory(prefix="pkg-bm25-") as tmp:
        index.save(Path(tmp))
        single["disk_mb"] = dir_mb(Path(tmp))
        index.retriever = bm = None  # the built index is freed: only the loaded one counts
        for disk in (False, True):
            trim()
            rss2 = rss_mb()
            loaded = BM25Index.load(Path(tmp), disk=disk)
            answers: list[Any] = []
            how = "disk" if disk else "memory"
            single[f"loaded_{how}_query"] = timed(
                rows, lambda i, ix=loaded: top_k(ix.scores(qterms[i]), ix.ids, depth), warmup=3, out=answers,  # type: ignore[misc]
            )
            single[f"loaded_{how}_rss_mb"] = rss_mb() - rss2
            single[f"loaded_{how}_same_top10"] = all(a.ids[:10].tolist() == t for a, t in zip(answers, top, strict=True))
            loaded = answers = None  # type: ignore[assignment]
    return single, top


def work_bm25(spec: dict[str, Any]) -> dict[str, Any]:
    """One bm25s index against ``SHARDS`` shards (random partition) at ``n`` synthetic passages."""
    from policykg.graph.store import SQLiteStore
    from policykg.search.local_index import BM25Index
    from policykg.search.ranking import FusionWeights, top_k
    from policykg.search.tokenize import Tokenizer

    n = int(spec["n"])
    depth = FusionWeights().depth
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    tids, words = store.passage_tokens()
    texts = {p.id: p.embed_text for p in store.passages()}
    tokenizer = Tokenizer.from_regulations(store.regulations())  # the searcher's words
    store.close()
    real = [tokenizer.terms(texts[int(i)], w) for i, w in zip(tids.tolist(), words, strict=True)]
    del texts, words
    queries = load_queries()
    qterms = [tokenizer.terms(q) for q in queries]  # jieba's dictionary loads here
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
    if not spec.get("shards", True):
        return res

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
    sharded["query_parallel"] = percentiles(per_q.tolist())
    overlaps = []
    for i in rows:
        a = top_single[i]
        if a:
            overlaps.append(len(set(a) & set(run_sharded(i)[:10])) / len(a))
    sharded["overlap@10"] = float(np.mean(overlaps)) if overlaps else float("nan")
    sharded["queries_with_hits"] = len(overlaps)
    res["sharded"] = sharded
    return res


def main() -> None:
    """Standalone: ``python bench/scale_bm25.py --store DIR --sizes 300000`` prints the figures of one bm25s index
    (no shards): build, and the serving RSS with the score matrix in memory against left on disk."""
    import argparse
    import json

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--store", type=Path, required=True, help="a data directory with the corpus ingested (read only)")
    ap.add_argument("--sizes", default="300000")
    args = ap.parse_args()
    for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
        res = work_bm25({"n": n, "store": str(args.store), "shards": False})
        single = res["single"]
        print(json.dumps({"n": n, "terms_per_passage": res["terms_per_passage"], **{k: v for k, v in single.items()}}, indent=1, default=str))
        print(f"bm25s at {n:,}: build {single['build_s']:.1f} s; disk {single['disk_mb']:.0f} MB; serving RSS "
              f"in memory {single['loaded_memory_rss_mb']:.0f} MB (p50 {single['loaded_memory_query']['p50_ms']:.1f} ms) vs on disk "
              f"{single['loaded_disk_rss_mb']:.0f} MB (p50 {single['loaded_disk_query']['p50_ms']:.1f} ms); same top 10: {single['loaded_disk_same_top10']}")


if __name__ == "__main__":
    main()
