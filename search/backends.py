"""What the searcher needs from an index backend, as two small Protocols.

Two backends implement both: :class:`~policykg.search.local_index.LocalIndex` (faiss + bm25s files
beside the store) and :class:`~policykg.search.milvus.MilvusIndex` (dense vectors and a BM25
function in one Milvus collection, sentence vectors in a second). Each translates
:class:`~policykg.search.filters.Filters` itself. The factory in ``policykg.api.factory`` picks one
from the configuration.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from policykg.search.filters import Filters, PassageCatalog
from policykg.search.ranking import Candidates


class PassageIndex(Protocol):
    """An index derived from the store's passages."""

    @property
    def name(self) -> str:
        """What /health shows: "faiss", or the server and collection."""
        ...

    def refresh(self, catalog: PassageCatalog, generation: int, *, write: bool = False) -> None:
        """Match the store at ``generation`` (load, build, or nothing to do); ``write``: persist it."""
        ...


class VectorSearch(PassageIndex, Protocol):
    """Inner-product search over the passages' L2-normalised vectors."""

    def search_vectors(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        """The best ``k`` passages for each query vector, within ``filters``."""
        ...

    def search_sentences(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        """The best ``k`` passages for each query vector by their best sentence (passages of two or more
        sentences), within ``filters``; empty where the backend holds no sentence vectors."""
        ...


class KeywordSearch(PassageIndex, Protocol):
    """BM25 over the passages' words."""

    def search_keywords(self, query: str, k: int, filters: Filters) -> Candidates:
        """The best ``k`` passages for ``query``'s words, within ``filters``."""
        ...


__all__ = ["KeywordSearch", "PassageIndex", "VectorSearch"]
