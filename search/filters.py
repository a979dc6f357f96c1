"""The shared filter type of every search, and the per-passage catalogue that evaluates it locally.

:class:`Filters` is what a user narrows a search by; each index backend translates it itself
(faiss + bm25s through :class:`PassageCatalog`'s masks, Milvus into a boolean expression).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from policykg.graph.store import SQLiteStore


@dataclass(frozen=True)
class Filters:
    """Narrow a search: a year or a range of years, document type, issuer, regulation, document."""

    year: int | None = None
    year_from: int | None = None
    year_to: int | None = None
    doc_type: str | None = None
    issuer: str | None = None  # a part of the issuer's name
    regulation: str | None = None  # regulation id: its articles and the measures linked to it
    doc_id: str | None = None


@dataclass
class PassageCatalog:
    """Per passage (in id order): year, document type, issuer and document, for filtering.

    Loaded from the store once per store generation; ``regulation_passages`` answers the one
    filter that needs the graph (passages of a regulation and of the measures linked to it).
    """

    store: SQLiteStore
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    year: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    doc_type: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    issuer: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    doc_id: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    _documents_of: dict[int, str] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def load(cls, store: SQLiteStore) -> PassageCatalog:
        rows = store.passage_meta()
        return cls(
            store,
            np.array([r["id"] for r in rows], dtype=np.int64),
            np.array([r["year"] if r["year"] is not None else -1 for r in rows], dtype=np.int64),
            np.array([r["doc_type"] for r in rows], dtype=object),
            np.array([r["issuer"] or "" for r in rows], dtype=object),
            np.array([r["doc_id"] for r in rows], dtype=object),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def regulation_passages(self, regulation_id: str) -> np.ndarray:
        """Ids of the passages of a regulation's text and of the measures linked to it."""
        return np.fromiter(self.store.regulation_passage_ids(regulation_id), dtype=np.int64)

    def mask(self, f: Filters) -> np.ndarray | None:
        """Which passages (aligned with ``ids``) pass ``f``; None when all of them do."""
        if not len(self.ids):
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if f.year is not None:
            mask &= self.year == f.year
        if f.year_from is not None:
            mask &= self.year >= f.year_from
        if f.year_to is not None:
            mask &= (self.year <= f.year_to) & (self.year >= 0)
        if f.doc_type:
            mask &= self.doc_type == f.doc_type
        if f.issuer:
            mask &= np.array([f.issuer in s for s in self.issuer], dtype=bool)
        if f.doc_id:
            mask &= self.doc_id == f.doc_id
        if f.regulation:
            mask &= np.isin(self.ids, self.regulation_passages(f.regulation))
        return None if mask.all() else mask

    def allowed(self, f: Filters) -> np.ndarray | None:
        """The ids of the passages that pass ``f``; None when all of them do."""
        mask = self.mask(f)
        return None if mask is None else self.ids[mask]

    def years(self, doc_type: str = "report") -> list[int]:
        """The years of the passages of that type, ascending."""
        return sorted({int(y) for y, t in zip(self.year, self.doc_type, strict=True) if y >= 0 and t == doc_type})

    def documents_of(self) -> dict[int, str]:
        """Passage id → document id (built once: the catalog lives for one store generation)."""
        if self._documents_of is None:
            self._documents_of = dict(zip(self.ids.tolist(), self.doc_id, strict=True))
        return self._documents_of

    def passages_of(self, doc_ids: Collection[str]) -> set[int]:
        """The ids of the passages of those documents."""
        if not doc_ids or not len(self.ids):
            return set()
        return set(self.ids[np.isin(self.doc_id, list(doc_ids))].tolist())


__all__ = ["Filters", "PassageCatalog"]
