"""Passage vectors in Milvus through pymilvus's ``MilvusClient`` (a Milvus Lite server or a cluster).

The store keeps every vector (SQLite is the record); Milvus holds a copy that many API replicas
share and search. Each passage is one entity: its id, document, year, type and issuer (scalar
fields, so year/type/issuer filters run inside Milvus) and its vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.store import SQLiteStore

DEFAULT_COLLECTION = "policykg_passages"
WRITE_BATCH = 2_000
IN_LIST_LIMIT = 20_000  # more allowed ids than this: filter by scalar fields only


class VectorServerError(Exception):
    """The vector server cannot be reached or refused a request."""


@dataclass
class PassageRow:
    pid: int
    doc_id: str
    year: int | None
    doc_type: str
    issuer: str | None


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def milvus_filter(
    *, year: int | None = None, year_from: int | None = None, year_to: int | None = None,
    doc_type: str | None = None, issuer: str | None = None, doc_id: str | None = None,
) -> str:
    """A Milvus boolean expression with the same meaning as :class:`search.searcher.Filters`."""
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


class MilvusIndex:
    """Inner-product search over a Milvus collection of passage vectors."""

    def __init__(self, uri: str, collection: str = DEFAULT_COLLECTION, *, dim: int = 384, token: str | None = None, timeout: float = 30.0) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise VectorServerError("a vector server needs pymilvus: pip install 'policykg[servers]'") from exc
        self.uri = uri
        self.collection = collection
        self.dim = dim
        self.timeout = timeout
        try:
            self.client = MilvusClient(uri=uri, token=token or "", timeout=timeout)
            self._ready = bool(self.client.has_collection(collection))
        except Exception as exc:
            raise VectorServerError(f"vector server {uri}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc

    @property
    def target(self) -> str:
        """Where the vectors go, as recorded by the store's sync state."""
        return f"milvus {self.uri} {self.collection}"

    def _ensure(self, dim: int) -> None:
        """Create the collection (at the first write, when the vector size is known)."""
        from pymilvus import DataType, MilvusClient

        if self._ready:
            return
        if self._call("has_collection", self.client.has_collection, self.collection):
            self._ready = True
            return
        self.dim = dim
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pid", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
        schema.add_field("year", DataType.INT64)
        schema.add_field("doc_type", DataType.VARCHAR, max_length=16)
        schema.add_field("issuer", DataType.VARCHAR, max_length=512)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self.client.prepare_index_params()
        # AUTOINDEX: exact on Milvus Lite, HNSW-like on a cluster
        params.add_index(field_name="vector", index_type="AUTOINDEX", metric_type="IP")
        self._call("create_collection", self.client.create_collection, self.collection, schema=schema, index_params=params)
        self._ready = True

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise VectorServerError(f"vector server {self.uri}: {what} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc

    # -- writes
    def add(self, rows: Sequence[PassageRow], vectors: np.ndarray) -> None:
        """Insert passages (their ids must be new; use :meth:`delete_documents` first when replacing)."""
        if not len(rows):
            return
        self._ensure(int(vectors.shape[1]))
        for s in range(0, len(rows), WRITE_BATCH):
            batch = [
                {"pid": int(r.pid), "doc_id": r.doc_id, "year": int(r.year) if r.year is not None else -1,
                 "doc_type": r.doc_type, "issuer": r.issuer or "", "vector": vectors[s + i].astype(np.float32).tolist()}
                for i, r in enumerate(rows[s: s + WRITE_BATCH])
            ]
            self._call("insert", self.client.insert, self.collection, batch)

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        if not self._ready:
            return
        for s in range(0, len(ids), 500):
            expr = f"doc_id in {json.dumps(ids[s: s + 500], ensure_ascii=False)}"
            self._call("delete", self.client.delete, self.collection, filter=expr)

    def clear(self) -> None:
        self._call("drop", self.client.drop_collection, self.collection)
        self._ready = False

    def count(self) -> int:
        if not self._ready:
            return 0
        self._call("flush", self.client.flush, self.collection)
        stats = self._call("stats", self.client.get_collection_stats, self.collection)
        return int(stats.get("row_count", 0))

    def ids_of(self, doc_id: str) -> list[int]:
        rows = self._call("query", self.client.query, self.collection, filter=f"doc_id == {_quote(doc_id)}", output_fields=["pid"])
        return sorted(int(r["pid"]) for r in rows)

    # -- reads
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, where: str = "",
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids), each (n_queries, k); id -1 pads missing results.

        ``where`` is a Milvus expression over year/doc_type/issuer/doc_id; ``allowed`` further
        restricts to those passage ids when it is short enough to send.
        """
        expr = where
        if not self._ready:
            return np.zeros((len(queries), 1), np.float32), -np.ones((len(queries), 1), np.int64)
        if allowed is not None:
            if not len(allowed):
                return np.zeros((len(queries), 1), np.float32), -np.ones((len(queries), 1), np.int64)
            if len(allowed) <= IN_LIST_LIMIT:
                ids = f"pid in [{','.join(str(int(i)) for i in allowed)}]"
                expr = f"({expr}) and {ids}" if expr else ids
        k = max(1, min(int(k), 16_384))  # Milvus's topk ceiling
        res = self._call(
            "search", self.client.search, self.collection, data=np.asarray(queries, np.float32).tolist(), limit=k,
            filter=expr, output_fields=["pid"], search_params={"metric_type": "IP"},
        )
        scores = np.zeros((len(queries), k), np.float32)
        found = -np.ones((len(queries), k), np.int64)
        allowed_set = set(allowed.tolist()) if allowed is not None and len(allowed) > IN_LIST_LIMIT else None
        for qi, hits in enumerate(res):
            j = 0
            for h in hits:
                pid = int(h["pid"] if "pid" in h else h["id"])
                if allowed_set is not None and pid not in allowed_set:
                    continue
                scores[qi, j], found[qi, j] = float(h["distance"]), pid
                j += 1
        return scores, found


def sync_vectors(store: SQLiteStore, index: MilvusIndex) -> dict[str, int]:
    """Bring the Milvus collection in line with the store's passage vectors, document by document.

    A document's entry in the store's sync state names its fingerprint and passage ids; documents
    whose entry differs are deleted and re-inserted, documents gone from the store are deleted.
    A rerun after a crash redoes what was not recorded.
    """
    target = index.target
    with store.snapshot():
        state = store.sync_state(target)
        docs = store.query(
            "SELECT d.id, d.fingerprint, d.year, d.doc_type, d.issuer, count(p.id) AS n, min(p.id) AS lo, max(p.id) AS hi "
            "FROM documents d LEFT JOIN passages p ON p.doc_id = d.id AND p.vector IS NOT NULL GROUP BY d.id"
        )
    wanted = {d["id"]: f"{d['fingerprint']}:{d['n']}:{d['lo']}-{d['hi']}" for d in docs}
    todo = [d for d in docs if state.get(d["id"]) != wanted[d["id"]]]
    gone = [name for name in state if name not in wanted]
    index.delete_documents([d["id"] for d in todo] + gone)
    for name in gone:
        store.record_sync(target, name, None)
    added = 0
    for d in todo:
        ids, vecs = store.document_passage_vectors(d["id"])
        if ids:
            index.add([PassageRow(pid, d["id"], d["year"], d["doc_type"], d["issuer"]) for pid in ids], vecs)
            added += len(ids)
        store.record_sync(target, d["id"], wanted[d["id"]])
    return {"documents": len(todo), "removed": len(gone), "vectors": added}
