"""Passages in Milvus through pymilvus's ``MilvusClient`` (a Milvus Lite server or a cluster).

The store keeps every vector (SQLite is the record); Milvus holds a copy that many API replicas
share and search. Each passage is one entity: its id, document, year, type and issuer (scalar
fields, so year/type/issuer filters run inside Milvus), its vector, and its text, which Milvus's
BM25 function (jieba analyzer) turns into a sparse vector: the keyword half of hybrid search runs
in the same server (bench/keywords.py: same hybrid quality as bm25s on the labelled set, without
an 11 GB in-process BM25 index per API replica at 10M passages).

A second collection (``<collection>_sentences``) holds the sentence vectors of passages of two or
more sentences, one entity per sentence: its passage's id and the same scalar fields, so topic
queries score a passage by its best sentence as the local backend does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from policykg.graph.store import SQLiteStore
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.local_index import SENTENCE_FETCH
from policykg.search.ranking import Candidates

DEFAULT_COLLECTION = "policykg_passages"
SENTENCES_SUFFIX = "_sentences"  # the sentence collection is named after the passages'
WRITE_BATCH = 2_000
IN_LIST_LIMIT = 20_000  # more allowed ids than this: filter by scalar fields only
EF = 512  # HNSW walk width (bench/scale.py at 10^5: recall@10 0.91 at Milvus's default, 0.99 at 512)
FILTERED_EF = 4_096  # a filtered walk loses neighbours; widen it
MAX_LIMIT = 16_384  # Milvus's topk and ef ceiling
CONNECT_ATTEMPTS = 3
# pymilvus pings every 10 s even on an idle connection; a gRPC server that keeps gRPC's default ping
# policy (Milvus Lite's) answers that with GOAWAY "too_many_pings" and the shared connection of every
# client of that address fails. Ping only during calls, and rarely.
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 360_000, "grpc.keepalive_permit_without_calls": 0}
TEXT_LIMIT = 8_000  # characters of passage text kept for BM25 (passages are ≤ 480 plus a heading)


class VectorServerError(Exception):
    """The vector server cannot be reached or refused a request."""


@dataclass
class PassageRow:
    pid: int
    doc_id: str
    year: int | None
    doc_type: str
    issuer: str | None
    text: str = ""


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def milvus_filter(f: Filters) -> str:
    """A Milvus boolean expression for the scalar parts of ``f`` (its regulation is a list of ids)."""
    year, year_from, year_to, doc_type, issuer, doc_id = f.year, f.year_from, f.year_to, f.doc_type, f.issuer, f.doc_id
    parts = []
    if year is not None:
        parts.append(f"year == {int(year)}")
    if year_from is not None:
        parts.append(f"year >= {int(year_from)}")
    if year_to is not None:
        parts.append(f"(year <= {int(year_to)} and year >= 0)")
    if doc_type:
        parts.append(f"doc_type == {_quote(doc_type)}")
    if issuer:
        escaped = issuer.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        parts.append(f"issuer like {_quote('%' + escaped + '%')}")
    if doc_id:
        parts.append(f"doc_id == {_quote(doc_id)}")
    return " and ".join(parts)


def _pid(hit: Any) -> int:
    """A hit's passage id (pymilvus puts output fields at the top level or under ``entity``)."""
    if "pid" in hit:
        return int(hit["pid"])
    entity = hit.get("entity") or {}
    return int(entity["pid"] if "pid" in entity else hit["id"])


def _best_per_passage(hits: Iterable[tuple[int, float]], k: int) -> Candidates:
    """The first ``k`` passages of sentence hits (best first), each at its best sentence's score."""
    best: dict[int, float] = {}
    for pid, score in hits:
        if pid not in best:
            if len(best) == k:
                break
            best[pid] = score
    return Candidates(np.fromiter(best, dtype=np.int64, count=len(best)), np.fromiter(best.values(), dtype=np.float32, count=len(best)))


def _depth(k: int, check: set[int] | None) -> int:
    """How many hits to ask for: with ids checked afterwards (too many to send), deeper so k survive."""
    return min(MAX_LIMIT, k * 10) if check is not None else k


class MilvusIndex:
    """Passage vectors (dense, inner product) and texts (BM25) in one Milvus collection, sentence vectors
    in a second one (``<collection>_sentences``).

    Implements :class:`~policykg.search.backends.VectorSearch` and ``KeywordSearch``, and syncs
    itself from the store (:meth:`sync`).
    """

    def __init__(self, uri: str, collection: str = DEFAULT_COLLECTION, *, dim: int = 384, token: str | None = None, timeout: float = 30.0) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise VectorServerError("a vector server needs pymilvus: pip install 'policykg[servers]'") from exc
        self.uri = uri
        self.collection = collection
        self.sentence_collection = collection + SENTENCES_SUFFIX
        self.catalog: PassageCatalog | None = None
        self._generation: int | None = None
        self.dim = dim
        self.timeout = timeout
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self.client = MilvusClient(uri=uri, token=token or "", timeout=timeout, grpc_options=GRPC_OPTIONS)
                self._ready = bool(self.client.has_collection(collection))
                self._sentences_ready = bool(self.client.has_collection(self.sentence_collection))
                break
            except Exception as exc:
                # a shared connection the server has just closed (GOAWAY) is replaced at the next try
                if attempt + 1 < CONNECT_ATTEMPTS:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise VectorServerError(f"vector server {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc

    @property
    def name(self) -> str:
        """What /health shows: the server and the collection."""
        return f"{self.uri} {self.collection}"

    def refresh(self, catalog: PassageCatalog, generation: int, *, write: bool = False) -> None:
        """Nothing to load (the server holds the index); keep the catalogue for regulation filters, and at a
        new generation look again for collections another process (an ingest) has created since."""
        self.catalog = catalog
        if generation != self._generation:
            self._generation = generation
            self._ready = self._ready or self._exists(self.collection)
            self._sentences_ready = self._sentences_ready or self._exists(self.sentence_collection)

    def _exists(self, collection: str) -> bool:
        """Whether the server holds ``collection`` (False when it cannot say: a search or sync will tell)."""
        try:
            return bool(self.client.has_collection(collection))
        except Exception:
            return False

    def _where(self, f: Filters) -> tuple[str, np.ndarray | None]:
        """The scalar filter as an expression; the passage ids only for a regulation filter."""
        only = self.catalog.regulation_passages(f.regulation) if f.regulation and self.catalog is not None else None
        return milvus_filter(f), only

    def search_vectors(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        where, only = self._where(filters)
        scores, found = self.search(queries, k, only, where)
        return [Candidates(found[i][found[i] >= 0], scores[i][found[i] >= 0]) for i in range(len(found))]

    def search_sentences(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        """Per query, the best ``k`` passages by their best sentence (``k`` × ``SENTENCE_FETCH`` sentence rows
        searched, as the local backend does), within ``filters``; empty without sentence rows."""
        where, only = self._where(filters)
        return self.sentence_search(queries, k, only, where)

    def search_keywords(self, query: str, k: int, filters: Filters) -> Candidates:
        where, only = self._where(filters)
        return Candidates(*self.keyword_search(query, k, only, where))

    @property
    def target(self) -> str:
        """Where the vectors go, as recorded by the store's sync state."""
        return f"milvus {self.uri} {self.collection}"

    def _ensure(self, dim: int) -> None:
        """Create the collection (at the first write, when the vector size is known)."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        if self._ready:
            return
        if self._call("has_collection", self.client.has_collection, self.collection):
            self._ready = True
            return
        self.dim = dim
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pid", DataType.INT64, is_primary=True)
        self._add_passage_fields(schema)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_LIMIT, enable_analyzer=True, analyzer_params={"tokenizer": "jieba"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"], output_field_names=["sparse"]))
        params = self.client.prepare_index_params()
        # AUTOINDEX: Milvus picks a graph index (HNSW on a cluster); approximate, so searches pass ef
        params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")
        params.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.2, "bm25_b": 0.75})
        self._call("create_collection", self.client.create_collection, self.collection, schema=schema, index_params=params)
        self._ready = True

    def _add_passage_fields(self, schema: Any) -> None:
        """The fields the filters read (document, year, type, issuer) and the vector, after the passage id."""
        from pymilvus import DataType

        schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
        schema.add_field("year", DataType.INT64)
        schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
        schema.add_field("issuer", DataType.VARCHAR, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)

    def _ensure_sentences(self, dim: int) -> None:
        """Create the sentence collection (at its first write): a generated key per sentence, its passage's
        id, the passage's filter fields and the sentence vector."""
        from pymilvus import DataType, MilvusClient

        if self._sentences_ready:
            return
        if self._call("has_collection", self.client.has_collection, self.sentence_collection):
            self._sentences_ready = True
            return
        self.dim = dim
        schema = MilvusClient.create_schema(auto_id=True, enable_dynamic_field=False)
        schema.add_field("sid", DataType.INT64, is_primary=True)
        schema.add_field("pid", DataType.INT64)
        self._add_passage_fields(schema)
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")
        self._call("create_collection", self.client.create_collection, self.sentence_collection, schema=schema, index_params=params)
        self._sentences_ready = True

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise VectorServerError(f"vector server {self.uri}: {what} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc

    # -- writes
    def add(self, rows: Sequence[PassageRow], vectors: np.ndarray) -> None:
        """Insert passages (their ids must be new; use :meth:`delete_documents` first when replacing)."""
        if len(rows):
            self._ensure(int(vectors.shape[1]))
            self._insert(self.collection, rows, vectors, with_text=True)

    def add_sentences(self, rows: Sequence[PassageRow], vectors: np.ndarray) -> None:
        """Insert sentence rows: row i is a sentence of passage ``rows[i]`` (a passage once per sentence).

        Use :meth:`delete_documents` first when replacing a document's.
        """
        if len(rows):
            self._ensure_sentences(int(vectors.shape[1]))
            self._insert(self.sentence_collection, rows, vectors, with_text=False)

    def _insert(self, collection: str, rows: Sequence[PassageRow], vectors: np.ndarray, *, with_text: bool) -> None:
        """Write entities in batches: the passage id and filter fields of ``rows[i]``, vector i (and the text)."""
        for s in range(0, len(rows), WRITE_BATCH):
            batch = []
            for i, r in enumerate(rows[s: s + WRITE_BATCH]):
                entity = {"pid": int(r.pid), "doc_id": r.doc_id, "year": int(r.year) if r.year is not None else -1,
                          "doc_type": r.doc_type, "issuer": r.issuer or "", "vector": vectors[s + i].astype(np.float32).tolist()}
                if with_text:
                    entity["text"] = r.text[:TEXT_LIMIT]
                batch.append(entity)
            self._call("insert", self.client.insert, collection, batch)

    def delete_documents(self, doc_ids: Iterable[str], *, passages: bool = True, sentences: bool = True) -> None:
        """Delete the documents' passages and sentence rows (``passages`` / ``sentences``: which of the two)."""
        ids = list(doc_ids)
        collections = [c for c, wanted, ready in ((self.collection, passages, self._ready),
                                                   (self.sentence_collection, sentences, self._sentences_ready)) if wanted and ready]
        for collection in collections:
            for s in range(0, len(ids), 500):
                expr = f"doc_id in {json.dumps(ids[s: s + 500], ensure_ascii=False)}"
                self._call("delete", self.client.delete, collection, filter=expr)

    def clear(self) -> None:
        """Drop both collections (the passages' and the sentences')."""
        self._call("drop", self.client.drop_collection, self.collection)
        self._call("drop", self.client.drop_collection, self.sentence_collection)
        self._ready = self._sentences_ready = False

    def count(self) -> int:
        if not self._ready:
            return 0
        self._call("flush", self.client.flush, self.collection)
        stats = self._call("stats", self.client.get_collection_stats, self.collection)
        return int(stats.get("row_count", 0))

    def sentence_count(self) -> int:
        """Sentence rows held."""
        if not self._sentences_ready:
            return 0
        self._call("flush", self.client.flush, self.sentence_collection)
        stats = self._call("stats", self.client.get_collection_stats, self.sentence_collection)
        return int(stats.get("row_count", 0))

    def ids_of(self, doc_id: str) -> list[int]:
        rows = self._call("query", self.client.query, self.collection, filter=f"doc_id == {_quote(doc_id)}", output_fields=["pid"])
        return sorted(int(r["pid"]) for r in rows)

    def sentence_passages_of(self, doc_id: str) -> list[int]:
        """The passage id of each sentence row of ``doc_id`` (a passage once per sentence), ascending."""
        if not self._sentences_ready:
            return []
        rows = self._call(
            "query", self.client.query, self.sentence_collection, filter=f"doc_id == {_quote(doc_id)}", output_fields=["pid"],
        )
        return sorted(int(r["pid"]) for r in rows)

    # -- reads
    def _filter(self, where: str, allowed: np.ndarray | None) -> tuple[str, set[int] | None]:
        """The Milvus expression, and the allowed ids to check afterwards when too many to send."""
        if allowed is None:
            return where, None
        if len(allowed) > IN_LIST_LIMIT:
            return where, set(allowed.tolist())
        ids = f"pid in [{','.join(str(int(i)) for i in allowed)}]"
        return (f"({where}) and {ids}" if where else ids), None

    def _dense(self, collection: str, queries: np.ndarray, k: int, allowed: np.ndarray | None, where: str) -> list[list[tuple[int, float]]]:
        """Per query, up to ``k`` hits of ``collection`` as (passage id, inner product), best first."""
        expr, check = self._filter(where, allowed)
        k = max(1, min(int(k), MAX_LIMIT))
        limit = _depth(k, check)
        ef = min(MAX_LIMIT, max(limit, FILTERED_EF if expr else EF))
        res = self._call(
            "search", self.client.search, collection, data=np.asarray(queries, np.float32).tolist(), limit=limit,
            filter=expr, output_fields=["pid"], anns_field="vector",
            search_params={"metric_type": "IP", "params": {"ef": ef}},
        )
        pairs = ([(_pid(h), float(h["distance"])) for h in hits] for hits in res)
        return [[(pid, score) for pid, score in hits if check is None or pid in check][:k] for hits in pairs]

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, where: str = "",
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids), each (n_queries, k); id -1 pads missing results.

        ``where`` is a Milvus expression over year/doc_type/issuer/doc_id; ``allowed`` further
        restricts to those passage ids.
        """
        empty = np.zeros((len(queries), 1), np.float32), -np.ones((len(queries), 1), np.int64)
        if not self._ready or (allowed is not None and not len(allowed)):
            return empty
        k = max(1, min(int(k), MAX_LIMIT))
        scores = np.zeros((len(queries), k), np.float32)
        found = -np.ones((len(queries), k), np.int64)
        for qi, hits in enumerate(self._dense(self.collection, queries, k, allowed, where)):
            for j, (pid, score) in enumerate(hits):
                scores[qi, j], found[qi, j] = score, pid
        return scores, found

    def sentence_search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, where: str = "") -> list[Candidates]:
        """Per query, the best ``k`` passages by their best sentence, best first (``where`` and ``allowed``
        as in :meth:`search`): ``k`` × ``SENTENCE_FETCH`` sentence rows, each passage at its first (best) row."""
        if not self._sentences_ready or (allowed is not None and not len(allowed)):
            return [Candidates() for _ in range(len(queries))]
        k = max(1, min(int(k), MAX_LIMIT))
        hits = self._dense(self.sentence_collection, queries, k * SENTENCE_FETCH, allowed, where)
        return [_best_per_passage(h, k) for h in hits]

    def keyword_search(self, query: str, k: int, allowed: np.ndarray | None = None, where: str = "") -> tuple[np.ndarray, np.ndarray]:
        """BM25 over the passage texts (Milvus's jieba analyzer): (passage ids, scores), best first."""
        none = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if not self._ready or not query.strip() or (allowed is not None and not len(allowed)):
            return none
        expr, check = self._filter(where, allowed)
        k = max(1, min(int(k), MAX_LIMIT))
        res = self._call(
            "keyword search", self.client.search, self.collection, data=[query], anns_field="sparse",
            limit=_depth(k, check), filter=expr, output_fields=["pid"],
            search_params={"metric_type": "BM25"},
        )
        hits = [h for h in (res[0] if res else []) if check is None or _pid(h) in check][:k]
        # best first; Milvus Lite reports BM25 scores negated, a cluster positive
        return (np.array([_pid(h) for h in hits], dtype=np.int64),
                np.array([abs(float(h["distance"])) for h in hits], dtype=np.float32))

    @property
    def sentence_target(self) -> str:
        """Where the sentence vectors go, as recorded by the store's sync state (apart from the passages)."""
        return f"milvus {self.uri} {self.sentence_collection}"

    def sync(self, store: SQLiteStore) -> dict[str, int]:
        """Bring both collections in line with the store's passage and sentence vectors, document by document.

        A document's entry in the store's sync state names its fingerprint and passage ids (and, for the
        sentences, how many sentence vectors its passages hold); a document whose entry differs has its
        rows deleted and re-inserted, documents gone from the store are deleted. The two collections keep
        separate entries: sentences embedded later (an older store, or ``sentence_vectors`` turned on), or
        a collection synced before it had sentence rows, get their sentences without re-sending the
        passages. A rerun after a crash redoes what was not recorded.
        """
        target, sentence_target = self.target, self.sentence_target
        with store.snapshot():
            state, sentence_state = store.sync_state(target), store.sync_state(sentence_target)
            docs = store.passage_sync_rows()
        wanted = {d.id: f"{d.fingerprint}:{d.n}:{d.lo}-{d.hi}" for d in docs}
        wanted_sentences = {d.id: f"{wanted[d.id]}:{d.sentences}" for d in docs}
        todo = {d.id for d in docs if state.get(d.id) != wanted[d.id]}
        sentence_todo = {d.id for d in docs if sentence_state.get(d.id) != wanted_sentences[d.id]}
        gone = [name for name in state if name not in wanted]
        sentences_gone = [name for name in sentence_state if name not in wanted]
        self.delete_documents([d.id for d in docs if d.id in todo] + gone, sentences=False)
        self.delete_documents([d.id for d in docs if d.id in sentence_todo] + sentences_gone, passages=False)
        for name in gone:
            store.record_sync(target, name, None)
        for name in sentences_gone:
            store.record_sync(sentence_target, name, None)
        added = added_sentences = 0
        for d in docs:
            if d.id in todo:
                ids, vecs, texts = store.document_passage_vectors(d.id)
                if ids:
                    self.add([PassageRow(pid, d.id, d.year, d.doc_type, d.issuer, t) for pid, t in zip(ids, texts, strict=True)], vecs)
                    added += len(ids)
                store.record_sync(target, d.id, wanted[d.id])
            if d.id in sentence_todo:
                pids, svecs = store.document_sentence_vectors(d.id)
                if len(pids):
                    self.add_sentences([PassageRow(int(pid), d.id, d.year, d.doc_type, d.issuer) for pid in pids.tolist()], svecs)
                    added_sentences += len(pids)
                store.record_sync(sentence_target, d.id, wanted_sentences[d.id])
        return {"documents": len(todo | sentence_todo), "removed": len(gone), "vectors": added, "sentences": added_sentences}
