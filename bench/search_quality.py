"""Recall@10 and MRR@10 of bm25, dense and hybrid search on bench/data/queries.jsonl.

    python bench/search_quality.py --data policykg-data            # the three modes
    python bench/search_quality.py --data policykg-data --sweep    # fusion weights grid

The store must hold the corpus: `policykg ingest --manifest ../shared/corpus/manifest.csv`.
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import replace
from pathlib import Path

from policykg.api.kb import KnowledgeBase
from policykg.search.evaluation import Judge, load_queries, score
from policykg.search.filters import Filters
from policykg.search.ranking import Mode
from policykg.search.searcher import Searcher

from common import QUERIES_FILE, QueryVectors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("policykg-data"))
    ap.add_argument("--queries", type=Path, default=QUERIES_FILE)
    ap.add_argument("--sweep", action="store_true", help="grid over fusion weights")
    args = ap.parse_args()
    kb = KnowledgeBase(args.data)
    queries = load_queries(args.queries)
    judge = Judge(kb.documents(), lambda d: kb.document(d).text)
    kb.searcher.refresh()
    encoder = kb.encoder()
    t = time.perf_counter()
    qvecs = QueryVectors(encoder, [q.q for q in queries])  # encoded once for every mode and weight
    enc = time.perf_counter() - t
    print(f"{len(queries)} queries, encoded in {enc:.1f} s")
    searcher = Searcher(kb.store, kb.searcher.vectors, kb.searcher.keywords, lambda: qvecs, weights=kb.searcher.weights)

    def run(mode: Mode) -> dict[str, float]:
        return score(queries, searcher.search_many([(q.q, 10, Filters(), mode) for q in queries]), judge)

    print(f"{'mode':8} {'R@10':>6} {'MRR@10':>7}")
    modes: tuple[Mode, ...] = ("bm25", "dense", "hybrid")
    for mode in modes:
        m = run(mode)
        print(f"{mode:8} {m['recall@10']:6.3f} {m['mrr@10']:7.3f}")
    by_kind: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_kind.setdefault(q.kind, []).append(i)
    if args.sweep:
        base = searcher.weights
        print("\nweights sweep (dense, bm25, rrf_k): R@10 MRR@10")
        rows = []
        for wd, wb, rk in itertools.product((1.0,), (0.3, 0.5, 0.7, 1.0), (5, 10, 20, 60)):
            searcher.weights = replace(base, dense=wd, bm25=wb, rrf_k=rk)
            m = run("hybrid")
            rows.append((m["recall@10"] + m["mrr@10"], wd, wb, rk, m))
        for _, wd, wb, rk, m in sorted(rows, reverse=True, key=lambda r: r[0])[:10]:
            print(f"  {wd:.1f} {wb:.1f} {rk:>3}: {m['recall@10']:.3f} {m['mrr@10']:.3f}")
        searcher.weights = base


if __name__ == "__main__":
    main()
