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
from typing import Any

import numpy as np

from policykg.api.config import Config
from policykg.api.kb import KnowledgeBase
from policykg.search.backends import KeywordSearch
from policykg.search.evaluation import Judge, load_queries, score
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.local_index import LocalIndex
from policykg.search.ranking import Candidates, Mode
from policykg.search.searcher import Searcher

from common import QUERIES_FILE, copy_store, percentiles
from servers import running, start_milvus

COLLECTION = "kw"


class MilvusKeywords:
    """Milvus's BM25 function (jieba analyzer) as the searcher's keyword backend (no filters: the bench uses none)."""

    name = "milvus bm25"

    def __init__(self, client: Any) -> None:
        self.client = client

    def refresh(self, catalog: PassageCatalog, generation: int, *, write: bool = False) -> None:
        """Nothing to load: the server holds the index."""

    def search_keywords(self, query: str, k: int, filters: Filters) -> Candidates:
        res = self.client.search(
            COLLECTION, data=[query], anns_field="sparse", limit=k, output_fields=["pid"], search_params={"metric_type": "BM25"},
        )
        ids = np.array([int(h["pid"]) for h in res[0]], dtype=np.int64)
        return Candidates(ids, np.linspace(1.0, 0.5, len(ids), dtype=np.float32))  # order is what RRF uses


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
    kb = KnowledgeBase(data, config=Config(data_dir=data))  # embedded: faiss + bm25s, no servers
    kb.searcher.refresh()
    local = kb.searcher.keywords
    assert isinstance(local, LocalIndex)
    queries = load_queries(args.queries)
    judge = Judge(kb.documents(), lambda d: kb.document(d).text)
    passages = kb.store.passages()
    depth = kb.searcher.weights.depth

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
            client.create_collection(COLLECTION, schema=schema, index_params=params)
            t = time.perf_counter()
            for s in range(0, len(passages), 1000):
                client.insert(COLLECTION, [{"pid": p.id, "text": p.embed_text[:8000]} for p in passages[s: s + 1000]])
            client.flush(COLLECTION)
            milvus_load = time.perf_counter() - t

            rows = []
            backends: tuple[tuple[str, KeywordSearch], ...] = (
                ("bm25s (policykg tokens)", local), ("Milvus BM25 (jieba analyzer)", MilvusKeywords(client)),
            )
            for name, keywords in backends:
                # the same fusion, boost and hits as `policykg search`, with this keyword backend; dense: faiss
                searcher = Searcher(kb.store, local, keywords, kb.encoder, weights=kb.searcher.weights)
                keywords.search_keywords(queries[0].q, depth, Filters())  # warm
                lat: list[float] = []
                for q in queries:
                    t = time.perf_counter()
                    keywords.search_keywords(q.q, depth, Filters())
                    lat.append(time.perf_counter() - t)

                def run(mode: Mode, searcher: Searcher = searcher) -> dict[str, float]:
                    return score(queries, searcher.search_many([(q.q, 10, Filters(), mode) for q in queries]), judge)

                kw, hy = run("bm25"), run("hybrid")
                latency = percentiles(lat)
                rows.append((name, kw, hy, latency["p50_ms"], latency["p99_ms"]))
            print(f"{len(passages)} passages, {len(queries)} labelled queries; Milvus load {milvus_load:.1f} s")
            print("| keyword backend | keyword R@10 / MRR@10 | hybrid R@10 / MRR@10 | keyword query p50 / p99 |")
            print("|---|---|---|---|")
            for name, kw, hy, p50, p99 in rows:
                print(f"| {name} | {kw['recall@10']:.3f} / {kw['mrr@10']:.3f} | {hy['recall@10']:.3f} / {hy['mrr@10']:.3f} | {p50:.1f} / {p99:.1f} ms |")
            assert local.bm25 is not None and local.bm25.retriever is not None
            retriever = local.bm25.retriever
            nbytes = sum(int(getattr(v, "nbytes", 0)) for v in getattr(retriever, "scores", {}).values())
            print(f"bm25s index: {nbytes / 1e6:.1f} MB for {len(passages)} passages = {nbytes / len(passages):.0f} B/passage "
                  f"→ {nbytes / len(passages) * 1e7 / 1e9:.1f} GB at 10M passages")
    finally:
        kb.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
