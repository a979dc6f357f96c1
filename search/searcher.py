"""Filtered hybrid search over the passages of a store, and the year-by-year timeline."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policykg.graph.store import SQLiteStore
from policykg.search.embeddings import Encoder
from policykg.search.index import BM25Index, FaissIndex, read_generation, write_indexes
from policykg.search.milvus import MilvusIndex, milvus_filter
from policykg.search.ranking import Candidates, FusionWeights, Mode, fuse, top_k
from policykg.search.tokenize import add_words, bm25_terms, tokenize

log = logging.getLogger(__name__)


@dataclass
class Filters:
    """Narrow a search: a year or a range of years, document type, issuer, regulation, document."""

    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    doc_type: str | None = None
    issuer: str | None = None
    regulation: str | None = None  # regulation id: its articles and the measures linked to it
    doc_id: str | None = None


@dataclass
class Hit:
    doc_id: str
    title: str
    issuer: str | None
    year: int | None
    doc_type: str
    section: str
    article: str | None
    text: str
    start: int
    end: int
    score: float
    passage_id: int = 0
    path: str = ""
    terms: list[str] = field(default_factory=list)  # query words found in the text, for highlighting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Searcher:
    """Keeps the faiss and BM25 indexes in step with the store and answers queries."""

    def __init__(
        self,
        store: SQLiteStore,
        index_dir: Path,
        encoder: Callable[[], Encoder],
        *,
        weights: FusionWeights | None = None,
        index_kind: str = "auto",
        threads: int | None = None,
        remote_vectors: MilvusIndex | None = None,
    ) -> None:
        self.store = store
        self.index_dir = index_dir
        self._encoder = encoder
        self.weights = weights or FusionWeights()
        self.index_kind = index_kind
        self.threads = threads
        self._lock = threading.Lock()
        self._generation = -1
        self.remote = remote_vectors  # vectors searched in a server instead of a local faiss index
        self.vectors: FaissIndex | MilvusIndex | None = None
        self.bm25: BM25Index | None = None
        self._meta: dict[str, np.ndarray] = {}
        self._docs: dict[str, dict[str, Any]] = {}

    # -- index life cycle
    def refresh(self, *, write: bool = False) -> None:
        """Load indexes matching the store generation; rebuild from the store if none do."""
        with self._lock:
            if self.remote is not None:  # vectors and keywords live in the server: only filter metadata here
                with self.store.snapshot():
                    gen = self.store.generation()
                    if gen != self._generation:
                        self.vectors, self.bm25 = self.remote, None
                        self._load_meta()
                        self._generation = gen
                return
            with self.store.snapshot():
                gen = self.store.generation()
                if gen == self._generation and self.bm25 is not None and (not write or read_generation(self.index_dir) == gen):
                    return  # (with write, also the files: a killed ingest may have left them behind)
                on_disk = read_generation(self.index_dir)
                loaded = False
                if on_disk == gen:
                    try:
                        self.vectors = FaissIndex.load(self.index_dir / "vectors.faiss") if (self.index_dir / "vectors.faiss").exists() else None
                        self.bm25 = BM25Index.load(self.index_dir / "bm25")
                        # another process may have swapped in newer indexes while these were read
                        loaded = read_generation(self.index_dir) == gen
                    except Exception as exc:  # a damaged index is rebuilt, never trusted
                        log.warning("index in %s unreadable (%s); rebuilding", self.index_dir, exc)
                if not loaded:
                    self._build_from_store()
                self._load_meta()
                self._generation = gen
            if write and not loaded and self.bm25 is not None:
                write_indexes(self.index_dir, gen, self.vectors if isinstance(self.vectors, FaissIndex) else None, self.bm25)

    def _build_from_store(self) -> None:
        ids, vecs = self.store.passage_vectors(self._dim())
        self.vectors = FaissIndex.build(ids, vecs, self.index_kind, self.threads) if len(ids) else None
        tids, tokens = self.store.passage_tokens()
        texts = {p.id: p.embed_text for p in self.store.passages()}
        self.bm25 = BM25Index.build(tids, [bm25_terms(texts[int(i)], t) for i, t in zip(tids.tolist(), tokens, strict=True)])

    def _dim(self) -> int:
        row = self.store.query("SELECT length(vector) AS n FROM passages WHERE vector IS NOT NULL LIMIT 1")
        return int(row[0]["n"]) // 4 if row else 384

    def _load_meta(self) -> None:
        rows = self.store.passage_meta()
        self._meta = {
            "id": np.array([r["id"] for r in rows], dtype=np.int64),
            "year": np.array([r["year"] if r["year"] is not None else -1 for r in rows], dtype=np.int64),
            "doc_type": np.array([r["doc_type"] for r in rows], dtype=object),
            "issuer": np.array([r["issuer"] or "" for r in rows], dtype=object),
            "doc_id": np.array([r["doc_id"] for r in rows], dtype=object),
        }
        self._docs = {d["id"]: d for d in self.store.documents()}
        regs = self.store.regulations()
        add_words([n for r in regs for n in (r.name, *r.aliases, r.topic or "")])
        self._reg_names = sorted(
            ((n, r) for r in regs if r.doc_id for n in {r.name, *r.aliases} if len(n) >= 3),
            key=lambda nr: -len(nr[0]),
        )

    # -- filters
    def _mask(self, f: Filters) -> np.ndarray | None:
        m = self._meta
        if not len(m.get("id", [])):
            return None
        mask = np.ones(len(m["id"]), dtype=bool)
        if f.year is not None:
            mask &= m["year"] == f.year
        if f.year_from is not None:
            mask &= m["year"] >= f.year_from
        if f.year_to is not None:
            mask &= (m["year"] <= f.year_to) & (m["year"] >= 0)
        if f.doc_type:
            mask &= m["doc_type"] == f.doc_type
        if f.issuer:
            mask &= np.array([f.issuer in s for s in m["issuer"]], dtype=bool)
        if f.doc_id:
            mask &= m["doc_id"] == f.doc_id
        if f.regulation:
            mask &= np.isin(m["id"], np.fromiter(self._regulation_passages(f.regulation), dtype=np.int64))
        return None if mask.all() else mask

    def _regulation_passages(self, regulation_id: str) -> set[int]:
        rows = self.store.query(
            "SELECT p.id FROM passages p JOIN regulations r ON r.doc_id = p.doc_id WHERE r.id = ? "
            "UNION SELECT p.id FROM passages p JOIN measures m ON m.doc_id = p.doc_id AND p.start < m.\"end\" AND m.start < p.\"end\" "
            "JOIN links l ON l.measure_id = m.id WHERE l.regulation_id = ?",
            (regulation_id, regulation_id),
        )
        return {r["id"] for r in rows}

    # -- ranking
    def _named_regulation_docs(self, query: str) -> set[str]:
        return {r.doc_id for name, r in self._reg_names if name in query and r.doc_id}

    def _rank(
        self, query: str, mode: Mode, mask: np.ndarray | None, depth: int, qvec: np.ndarray | None = None, f: Filters | None = None,
    ) -> list[tuple[int, float]]:
        ids = self._meta["id"]
        dense = Candidates()
        bm25 = Candidates()
        allowed = ids[mask] if mask is not None else None
        if allowed is not None and not len(allowed):
            return []
        if self.remote is not None:
            # scalar filters run in the server; passage ids are sent only for a regulation filter
            f = f or Filters()
            where = milvus_filter(year=f.year, year_from=f.year_from, year_to=f.year_to, doc_type=f.doc_type, issuer=f.issuer, doc_id=f.doc_id)
            only = allowed if f.regulation else None
            if mode in ("dense", "hybrid"):
                if qvec is None:
                    qvec = self._encoder().encode_queries([query])
                scores, found = self.remote.search(qvec, depth, only, where)
                keep = found[0] >= 0
                dense = Candidates(found[0][keep], scores[0][keep])
            if mode in ("bm25", "hybrid"):
                bm25 = Candidates(*self.remote.keyword_search(query, depth, only, where))
        else:
            if mode in ("dense", "hybrid") and self.vectors is not None:
                if qvec is None:
                    qvec = self._encoder().encode_queries([query])
                scores, found = self.vectors.search(qvec, depth, allowed)
                keep = found[0] >= 0
                dense = Candidates(found[0][keep], scores[0][keep])
            if mode in ("bm25", "hybrid") and self.bm25 is not None:
                raw = self.bm25.scores(bm25_terms(query))
                if len(raw):
                    pos_mask = None
                    if mask is not None:
                        pos_mask = np.isin(self.bm25.ids, ids[mask])
                    bm25 = top_k(raw, self.bm25.ids, depth, pos_mask)
        if mode == "dense":
            return list(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
        if mode == "bm25":
            return list(zip(bm25.ids.tolist(), bm25.scores.tolist(), strict=True))
        boosted: set[int] = set()
        named = self._named_regulation_docs(query)
        if named:
            boosted = {int(pid) for pid, d in zip(ids.tolist(), self._meta["doc_id"], strict=True) if d in named}
        return fuse(dense, bm25, self.weights, boosted)

    def search(self, query: str, *, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid", group_by_doc: bool = False) -> list[Hit]:
        """The best ``k`` passages for ``query`` within ``filters``."""
        self.refresh()
        f = filters or Filters()
        mask = self._mask(f)
        if mask is not None and not mask.any():
            return []
        ranked = self._rank(query, mode, mask, max(self.weights.depth, k * 3), f=f)
        if group_by_doc:
            seen: set[str] = set()
            doc_of = dict(zip(self._meta["id"].tolist(), self._meta["doc_id"], strict=True))
            grouped = []
            for pid, score in ranked:
                if doc_of.get(pid) not in seen:
                    seen.add(doc_of.get(pid, ""))
                    grouped.append((pid, score))
            ranked = grouped
        return self._hits(ranked, query, k)

    def search_many(self, queries: Sequence[tuple[str, int, Filters, Mode]]) -> list[list[Hit]]:
        """Batch search: the queries are encoded together."""
        self.refresh()
        qvecs = self._encoder().encode_queries([q for q, *_ in queries]) if self.vectors is not None else None
        out: list[list[Hit]] = []
        for i, (q, k, f, mode) in enumerate(queries):
            mask = self._mask(f)
            if mask is not None and not mask.any():
                out.append([])
                continue
            qv = qvecs[i: i + 1] if qvecs is not None else None
            out.append(self._hits(self._rank(q, mode, mask, max(self.weights.depth, k * 3), qv, f), q, k))
        return out

    def timeline(self, query: str, *, per_year: int = 3, filters: Filters | None = None, mode: Mode = "hybrid") -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``."""
        self.refresh()
        f = filters or Filters()
        years = sorted({int(y) for y, t in zip(self._meta["year"], self._meta["doc_type"], strict=True) if y >= 0 and t == "report"})
        qvec = self._encoder().encode_queries([query]) if mode != "bm25" and self.vectors is not None else None
        out: dict[int, list[Hit]] = {}
        for year in years:
            if (f.year_from and year < f.year_from) or (f.year_to and year > f.year_to):
                continue
            yf = Filters(year=year, doc_type="report", issuer=f.issuer, regulation=f.regulation)
            mask = self._mask(yf)
            if mask is not None and not mask.any():
                continue
            hits = self._hits(self._rank(query, mode, mask, max(50, per_year * 3), qvec, yf), query, per_year)
            if hits:
                out[year] = hits
        return out

    def _hits(self, ranked: list[tuple[int, float]], query: str, k: int | None = None) -> list[Hit]:
        """Hits for the best ``k`` of ``ranked``; a passage whose text repeats a better one is dropped
        (the same article or paragraph ingested from two files)."""
        if not ranked:
            return []
        k = len(ranked) if k is None else k
        passages = {p.id: p for p in self.store.passages([pid for pid, _ in ranked[: k * 2 + 10]])}
        seen_texts: set[str] = set()
        kept: list[tuple[int, float]] = []
        for pid, score in ranked:
            p = passages.get(pid)
            if p is None or p.text in seen_texts:
                continue
            seen_texts.add(p.text)
            kept.append((pid, score))
            if len(kept) == k:
                break
        ranked = kept
        qterms = [t for t in dict.fromkeys(tokenize(query)) if len(t) >= 2]
        hits = []
        for pid, score in ranked:
            p = passages.get(pid)
            if p is None:
                continue
            d = self._docs.get(p.doc_id, {})
            hits.append(
                Hit(
                    doc_id=p.doc_id,
                    title=d.get("title", ""),
                    issuer=d.get("issuer"),
                    year=d.get("year"),
                    doc_type=d.get("doc_type", ""),
                    section=p.section,
                    article=p.article,
                    text=p.text,
                    start=p.start,
                    end=p.end,
                    score=round(float(score), 6),
                    passage_id=pid,
                    path=d.get("path", ""),
                    terms=[t for t in qterms if re.search(re.escape(t), p.text, re.IGNORECASE)],
                )
            )
        return hits
