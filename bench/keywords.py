"""How keyword search scales: bm25s in the API process against Milvus's own BM25 (full-text search).

Measures, on the labelled queries (bench/data/queries.jsonl) over the corpus store:
- Recall@10 / MRR@10 of keyword-only and hybrid search with each keyword backend
  (bm25s over policykg's tokens: jieba words + character bigrams; Milvus BM25 function over the
  passage text with its jieba analyzer);
- query latency p50/p99 of each keyword backend;
- memory per passage of the bm25s index (to size it at 10M passages).

    python bench/keywords.py --data policykg-data

Starts a Milvus Lite server on 127.0.0.1 (stopped by PID at the end); contacts nothing else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from policykg.api.kb import Config, KnowledgeBase
from policykg.search.evaluation import Judge, load_queries, score
from policykg.search.ranking import Candidates, fuse
from policykg.search.searcher import Hit
from policykg.search.tokenize import bm25_terms

from common import QUERIES_FILE, copy_store, percentiles
from servers import running, start_milvus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("policykg-data"))
    ap.add_argument("--queries", type=Path, default=QUERIES_FILE)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))

    from pymilvus import DataType, Function, FunctionType, MilvusClient

    tmp = Path(tempfile.mkdtemp(prefix="pkg-keywords-"))
    data = tmp / "data"
    copy_store(args.data, data)
    kb = KnowledgeBase(data, config=Config(graph_url=None, vectors_url=None))
    searcher = kb.searcher
    searcher.refresh()
    queries = load_queries(args.queries)
    judge = Judge(kb.documents(), lambda d: kb.document(d).text)
    qvecs = kb.encoder().encode_queries([q.q for q in queries])
    passages = kb.store.passages()
    depth = searcher.weights.depth

    try:
        with running(start_milvus(tmp / "milvus")) as server:
            client = MilvusClient(uri=server.url)
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("pid", DataType.INT64, is_primary=True)
            schema.add_field("text", DataType.VARCHAR, max_length=8192, enable_analyzer=True, analyzer_params={"tokenizer": "jieba"})
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
            params = client.prepare_index_params()
            params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.2, "bm25_b": 0.75})
            client.create_collection("kw", schema=schema, index_params=params)
            t = time.perf_counter()
            for s in range(0, len(passages), 1000):
                client.insert("kw", [{"pid": p.id, "text": p.embed_text[:8000]} for p in passages[s: s + 1000]])
            client.flush("kw")
            milvus_load = time.perf_counter() - t

            def milvus_keywords(q: str) -> Candidates:
                res = client.search("kw", data=[q], anns_field="sparse", limit=depth, output_fields=["pid"], search_params={"metric_type": "BM25"})
                ids = np.array([int(h["pid"]) for h in res[0]], dtype=np.int64)
                return Candidates(ids, np.linspace(1.0, 0.5, len(ids), dtype=np.float32))  # order is what RRF uses

            def bm25s_keywords(q: str) -> Candidates:
                assert searcher.bm25 is not None
                raw = searcher.bm25.scores(bm25_terms(q))
                order = np.argsort(-raw)[:depth]
                order = order[raw[order] > 0]
                return Candidates(searcher.bm25.ids[order], raw[order])

            def dense(i: int) -> Candidates:
                assert searcher.vectors is not None
                scores, found = searcher.vectors.search(qvecs[i: i + 1], depth)
                keep = found[0] >= 0
                return Candidates(found[0][keep], scores[0][keep])

            rows = []
            for name, keyword_search in (("bm25s (policykg tokens)", bm25s_keywords), ("Milvus BM25 (jieba analyzer)", milvus_keywords)):
                keyword_search(queries[0].q)  # warm
                lat: list[float] = []
                kw_hits: list[list[Hit]] = []
                hy_hits: list[list[Hit]] = []
                for i, q in enumerate(queries):
                    t = time.perf_counter()
                    cand = keyword_search(q.q)
                    lat.append(time.perf_counter() - t)
                    kw_hits.append(searcher._hits(list(zip(cand.ids.tolist(), cand.scores.tolist(), strict=True)), q.q, 10))
                    boosted: set[int] = set()
                    named = searcher._named_regulation_docs(q.q)
                    if named:
                        boosted = {int(p) for p, d in zip(searcher._meta["id"].tolist(), searcher._meta["doc_id"], strict=True) if d in named}
                    hy_hits.append(searcher._hits(fuse(dense(i), cand, searcher.weights, boosted), q.q, 10))
                kw, hy = score(queries, kw_hits, judge), score(queries, hy_hits, judge)
                latency = percentiles(lat)
                rows.append((name, kw, hy, latency["p50_ms"], latency["p99_ms"]))
            print(f"{len(passages)} passages, {len(queries)} labelled queries; Milvus load {milvus_load:.1f} s")
            print("| keyword backend | keyword R@10 / MRR@10 | hybrid R@10 / MRR@10 | keyword query p50 / p99 |")
            print("|---|---|---|---|")
            for name, kw, hy, p50, p99 in rows:
                print(f"| {name} | {kw['recall@10']:.3f} / {kw['mrr@10']:.3f} | {hy['recall@10']:.3f} / {hy['mrr@10']:.3f} | {p50:.1f} / {p99:.1f} ms |")
            assert searcher.bm25 is not None and searcher.bm25.retriever is not None
            retriever = searcher.bm25.retriever
            nbytes = sum(int(getattr(v, "nbytes", 0)) for v in getattr(retriever, "scores", {}).values())
            print(f"bm25s index: {nbytes / 1e6:.1f} MB for {len(passages)} passages = {nbytes / len(passages):.0f} B/passage "
                  f"→ {nbytes / len(passages) * 1e7 / 1e9:.1f} GB at 10M passages")
    finally:
        kb.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
