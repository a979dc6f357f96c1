"""What the ingest pipeline needs from its collaborators, as small Protocols.

ingest/ imports neither search/ nor api/: the encoder, the tokenizer, the semantic linker, the
servers to sync and the search indexes to refresh come in as arguments of these types, and the
classes of search/ and graph/ satisfy them structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from policykg.graph.model import Link
from policykg.graph.store import SQLiteStore


class Encoder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages may take different prompts."""

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class Tokenizer(Protocol):
    """Turns a text into the words BM25 indexes (the same text gives the same words in any process)."""

    @property
    def words(self) -> frozenset[str]:
        """The domain words it keeps whole (regulation names, aliases, topics)."""
        ...

    def tokenize(self, text: str) -> list[str]: ...


class Linker(Protocol):
    """Finds Measure → Regulation links from what the store holds (e.g. the semantic linker)."""

    def __call__(self, store: SQLiteStore) -> list[Link]: ...


class Syncer(Protocol):
    """A server that mirrors part of the store (a SPARQL graph, a vector collection)."""

    def sync(self, store: SQLiteStore) -> dict[str, Any]: ...


class Indexer(Protocol):
    """Search indexes derived from the store, brought up to date after a write."""

    def refresh(self, *, write: bool = False) -> None: ...


__all__ = ["Encoder", "Indexer", "Linker", "Syncer", "Tokenizer"]
