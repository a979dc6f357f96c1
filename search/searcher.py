"""Filtered hybrid search over the passages of a store, and the year-by-year timeline.

:class:`Searcher` composes a :class:`~policykg.search.backends.VectorSearch` and a
:class:`~policykg.search.backends.KeywordSearch` (one object or two; which ones is the factory's
choice), fuses their candidates, and turns passage ids into :class:`Hit`s.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from policykg.graph.readmodels import DocumentSummary
from policykg.graph.store import SQLiteStore
from policykg.ingest.protocols import Encoder
from policykg.search.backends import KeywordSearch, VectorSearch
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.ranking import Candidates, FusionWeights, Mode, fuse
from policykg.search.tokenize import Tokenizer


@dataclass
class Hit:
    """One passage found: where it stands (document, section or article, span) and its score."""

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
    """Keeps the indexes in step with the store (by its generation counter) and answers queries."""

    def __init__(
        self,
        store: SQLiteStore,
        vectors: VectorSearch,
        keywords: KeywordSearch,
        encoder: Callable[[], Encoder],
        *,
        weights: FusionWeights | None = None,
    ) -> None:
        self.store = store
        self.vectors = vectors
        self.keywords = keywords
        self._encoder = encoder
        self.weights = weights or FusionWeights()
        self._lock = threading.Lock()
        self._generation = -1
        self.catalog = PassageCatalog(store)
        self.tokenizer = Tokenizer()
        self._docs: dict[str, DocumentSummary] = {}
        self._reg_names: list[tuple[str, str]] = []  # (name or alias, doc id of its full text), longest first

    # -- index life cycle
    def refresh(self, *, write: bool = False) -> None:
        """Bring the indexes to the store's generation; ``write``: persist what was rebuilt."""
        with self._lock, self.store.snapshot():
            gen = self.store.generation()
            if gen != self._generation:
                self.catalog = PassageCatalog.load(self.store)
                self._docs = {d.id: d for d in self.store.documents()}
                regs = self.store.regulations()
                self.tokenizer = Tokenizer.from_regulations(regs)
                self._reg_names = sorted(
                    ((n, r.doc_id) for r in regs if r.doc_id for n in {r.name, *r.aliases} if len(n) >= 3),
                    key=lambda nr: -len(nr[0]),
                )
            for index in dict.fromkeys([self.vectors, self.keywords]):  # one call when one backend serves both
                index.refresh(self.catalog, gen, write=write)
            self._generation = gen

    # -- ranking
    def _rank(self, query: str, mode: Mode, f: Filters, depth: int, qvec: np.ndarray | None = None) -> list[tuple[int, float]]:
        dense = Candidates()
        bm25 = Candidates()
        if mode in ("dense", "hybrid") and len(self.catalog):
            if qvec is None:
                qvec = self._encoder().encode_queries([query])
            dense = self.vectors.search_vectors(qvec, depth, f)[0]
        if mode in ("bm25", "hybrid"):
            bm25 = self.keywords.search_keywords(query, depth, f)
        if mode == "dense":
            return list(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
        if mode == "bm25":
            return list(zip(bm25.ids.tolist(), bm25.scores.tolist(), strict=True))
        named = {doc for name, doc in self._reg_names if name in query}
        boosted: set[int] = set()
        if named:
            boosted = {pid for pid, d in self.catalog.documents_of().items() if d in named}
        return fuse(dense, bm25, self.weights, boosted)

    def _nothing_passes(self, f: Filters) -> bool:
        mask = self.catalog.mask(f)
        return mask is not None and not mask.any()

    def search(self, query: str, *, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid", group_by_doc: bool = False) -> list[Hit]:
        """The best ``k`` passages for ``query`` within ``filters``."""
        self.refresh()
        f = filters or Filters()
        if self._nothing_passes(f):
            return []
        ranked = self._rank(query, mode, f, max(self.weights.depth, k * 3))
        if group_by_doc:
            seen: set[str] = set()
            doc_of = self.catalog.documents_of()
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
        dense = len(self.catalog) and any(mode != "bm25" for *_, mode in queries)
        qvecs = self._encoder().encode_queries([q for q, *_ in queries]) if dense else None
        out: list[list[Hit]] = []
        for i, (q, k, f, mode) in enumerate(queries):
            if self._nothing_passes(f):
                out.append([])
                continue
            qv = qvecs[i: i + 1] if qvecs is not None else None
            out.append(self._hits(self._rank(q, mode, f, max(self.weights.depth, k * 3), qv), q, k))
        return out

    def timeline(self, query: str, *, per_year: int = 3, filters: Filters | None = None, mode: Mode = "hybrid") -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``."""
        self.refresh()
        f = filters or Filters()
        qvec = self._encoder().encode_queries([query]) if mode != "bm25" and len(self.catalog) else None
        out: dict[int, list[Hit]] = {}
        for year in self.catalog.years("report"):
            if (f.year_from and year < f.year_from) or (f.year_to and year > f.year_to):
                continue
            yf = Filters(year=year, doc_type="report", issuer=f.issuer, regulation=f.regulation)
            if self._nothing_passes(yf):
                continue
            hits = self._hits(self._rank(query, mode, yf, max(50, per_year * 3), qvec), query, per_year)
            if hits:
                out[year] = hits
        return out

    def _hits(self, ranked: list[tuple[int, float]], query: str, k: int) -> list[Hit]:
        """Hits for the best ``k`` of ``ranked``; a passage whose text repeats a better one is dropped
        (the same article or paragraph ingested from two files)."""
        if not ranked:
            return []
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
        qterms = [t for t in dict.fromkeys(self.tokenizer.tokenize(query)) if len(t) >= 2]
        hits = []
        for pid, score in kept:
            p = passages[pid]
            d = self._docs.get(p.doc_id)
            hits.append(
                Hit(
                    doc_id=p.doc_id,
                    title=d.title if d else "",
                    issuer=d.issuer if d else None,
                    year=d.year if d else None,
                    doc_type=d.doc_type if d else "",
                    section=p.section,
                    article=p.article,
                    text=p.text,
                    start=p.start,
                    end=p.end,
                    score=round(float(score), 6),
                    passage_id=pid,
                    path=d.path if d else "",
                    terms=[t for t in qterms if re.search(re.escape(t), p.text, re.IGNORECASE)],
                )
            )
        return hits


__all__ = ["Filters", "Hit", "Searcher"]
