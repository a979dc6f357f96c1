"""The embedded index backend: faiss (vectors) and bm25s (keywords) in files beside the store.

:class:`LocalIndex` implements both :class:`~policykg.search.backends.VectorSearch` and
:class:`~policykg.search.backends.KeywordSearch`. Both indexes are derived from the store (vectors
and tokens live in SQLite), written atomically together and tagged with the store generation they
reflect; a stale or damaged file is rebuilt, never trusted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from policykg.graph.store import SQLiteStore
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.ranking import Candidates, top_k
from policykg.search.tokenize import Tokenizer, bigrams

log = logging.getLogger(__name__)

EXACT_LIMIT = 100_000
MAX_EF = 16_384  # widest HNSW walk for a filtered search


class FaissIndex:
    """faiss: exact inner product (IndexFlatIP) up to ``EXACT_LIMIT`` passages, HNSW beyond."""

    def __init__(self, index: object, ids: np.ndarray) -> None:
        self.index = index
        self.ids = ids
        self._sorted_ids: np.ndarray | None = None

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, kind: str = "auto", threads: int | None = None) -> FaissIndex:
        import faiss

        if threads:
            faiss.omp_set_num_threads(threads)
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
        if kind == "auto":
            kind = "flat" if len(ids) <= EXACT_LIMIT else "hnsw"
        base: Any
        if kind == "flat":
            base = faiss.IndexFlatIP(dim)
        else:
            base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = 80
            base.hnsw.efSearch = 512
        index = faiss.IndexIDMap2(base)
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        return cls(index, ids.astype(np.int64))

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids), each (n_queries, k); id -1 pads missing results.

        ``allowed`` restricts the search to those passage ids. On an HNSW index a filtered
        graph walk loses most of the true neighbours when few passages pass (measured at 10^6:
        recall 0.25 with 4% allowed), so up to ``EXACT_LIMIT`` allowed passages are scored
        exactly, and a larger set widens the walk in proportion to how few pass.
        """
        import faiss

        q = np.ascontiguousarray(queries, dtype=np.float32)
        ntotal = self.index.ntotal  # type: ignore[attr-defined]
        if ntotal == 0:
            return np.zeros((len(q), 1), np.float32), -np.ones((len(q), 1), np.int64)
        k = max(1, min(k, ntotal))
        if allowed is None:
            return self.index.search(q, k)  # type: ignore[attr-defined]
        allowed = np.ascontiguousarray(allowed, dtype=np.int64)
        hnsw = getattr(faiss.downcast_index(self.index.index), "hnsw", None)  # type: ignore[attr-defined]
        if hnsw is not None and len(allowed) <= EXACT_LIMIT:
            return self._exact(q, k, allowed)
        sel = faiss.IDSelectorBatch(allowed)
        params: Any
        if hnsw is not None:
            ef = int(min(MAX_EF, max(hnsw.efSearch, k) * max(1.0, ntotal / max(1, len(allowed)))))
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)  # type: ignore[attr-defined]
        else:
            params = faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
        return self.index.search(q, k, params=params)  # type: ignore[attr-defined]

    def _exact(self, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner product against the allowed passages only (their vectors read back from the index)."""
        if self._sorted_ids is None:
            self._sorted_ids = np.sort(self.ids)
        pos = np.searchsorted(self._sorted_ids, allowed).clip(0, max(0, len(self._sorted_ids) - 1))
        present = np.unique(allowed[self._sorted_ids[pos] == allowed]) if len(self._sorted_ids) else allowed[:0]
        scores = np.zeros((len(q), k), np.float32)
        found = -np.ones((len(q), k), np.int64)
        if not len(present):
            return scores, found
        vecs = self.index.reconstruct_batch(present)  # type: ignore[attr-defined]
        sims = q @ vecs.T
        n = min(k, len(present))
        top = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        for i in range(len(q)):
            order = top[i][np.argsort(-sims[i, top[i]], kind="stable")]
            scores[i, :n], found[i, :n] = sims[i, order], present[order]
        return scores, found

    def save(self, path: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(path))  # type: ignore[call-overload]

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        import faiss

        index = faiss.read_index(str(path))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)  # type: ignore[attr-defined]
        return cls(index, ids)


class BM25Index:
    """BM25 (bm25s) over jieba tokens; scores every passage so filters stay exact."""

    def __init__(self, retriever: object | None, ids: np.ndarray) -> None:
        self.retriever = retriever
        self.ids = ids
        self._pos = {int(pid): i for i, pid in enumerate(ids)}

    @classmethod
    def build(cls, ids: np.ndarray, corpus_tokens: list[list[str]], *, k1: float = 1.2, b: float = 0.75) -> BM25Index:
        import bm25s

        if not corpus_tokens:
            return cls(None, ids)
        retriever = bm25s.BM25(k1=k1, b=b)
        docs = [toks if toks else ["\u2400"] for toks in corpus_tokens]
        retriever.index(docs, show_progress=False)
        return cls(retriever, ids)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """BM25 score of every passage (aligned with ``ids``)."""
        if self.retriever is None or not len(self.ids):
            return np.zeros(len(self.ids), np.float32)
        vocab = self.retriever.vocab_dict  # type: ignore[attr-defined]
        known = [t for t in query_tokens if t in vocab]
        if not known:
            return np.zeros(len(self.ids), np.float32)
        return np.asarray(self.retriever.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]

    def save(self, path: Path) -> None:
        if self.retriever is not None:
            self.retriever.save(str(path))  # type: ignore[attr-defined]
        np.save(path / "passage_ids.npy", self.ids)

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        import bm25s

        ids = np.load(path / "passage_ids.npy")
        return cls(bm25s.BM25.load(str(path)) if len(ids) else None, ids)


def write_indexes(directory: Path, generation: int, vectors: FaissIndex | None, bm25: BM25Index) -> None:
    """Write both indexes to a temp dir, then swap it in with one rename.

    Called only by the one ingest holding the data directory's lock: temp dirs left by a killed
    ingest (``.index-*``) are swept first.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(".index-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=directory.parent))
    try:
        if vectors is not None:
            vectors.save(tmp / "vectors.faiss")
        (tmp / "bm25").mkdir()
        bm25.save(tmp / "bm25")
        (tmp / "state.json").write_text(json.dumps({"generation": generation, "passages": len(bm25.ids)}))
        old = directory.parent / f".index-old-{os.getpid()}"
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_generation(directory: Path) -> int | None:
    try:
        return int(json.loads((directory / "state.json").read_text())["generation"])
    except (OSError, ValueError, KeyError):
        return None


class LocalIndex:
    """faiss + bm25s over the store's passages, kept in ``directory`` and in step with the store."""

    name = "faiss"

    def __init__(
        self, store: SQLiteStore, directory: Path, *, kind: str = "auto", threads: int | None = None,
        k1: float = 1.2, b: float = 0.75,
    ) -> None:
        self.store = store
        self.directory = directory
        self.kind = kind
        self.threads = threads
        self.k1, self.b = k1, b
        self.vectors: FaissIndex | None = None
        self.bm25: BM25Index | None = None
        self.catalog = PassageCatalog(store)
        self.tokenizer = Tokenizer()
        self._generation = -1

    def refresh(self, catalog: PassageCatalog, generation: int, *, write: bool = False) -> None:
        """Load the index files of ``generation``, else rebuild from the store (and write them if ``write``).

        Called inside a store snapshot; with ``write``, also checks the files (a killed ingest may
        have left them behind).
        """
        self.catalog = catalog
        if generation == self._generation and self.bm25 is not None and (not write or read_generation(self.directory) == generation):
            return
        loaded = False
        if read_generation(self.directory) == generation:
            try:
                path = self.directory / "vectors.faiss"
                self.vectors = FaissIndex.load(path) if path.exists() else None
                self.bm25 = BM25Index.load(self.directory / "bm25")
                # another process may have swapped in newer indexes while these were read
                loaded = read_generation(self.directory) == generation
            except Exception as exc:  # a damaged index is rebuilt, never trusted
                log.warning("index in %s unreadable (%s); rebuilding", self.directory, exc)
        if not loaded:
            self._build()
        self.tokenizer = Tokenizer.from_regulations(self.store.regulations())
        self._generation = generation
        if write and not loaded and self.bm25 is not None:
            write_indexes(self.directory, generation, self.vectors, self.bm25)

    def _build(self) -> None:
        dim = self.store.vector_dim() or 384
        ids, vecs = self.store.passage_vectors(dim)
        self.vectors = FaissIndex.build(ids, vecs, self.kind, self.threads) if len(ids) else None
        tids, tokens = self.store.passage_tokens()
        texts = {p.id: p.embed_text for p in self.store.passages()}
        self.bm25 = BM25Index.build(
            tids, [words + bigrams(texts[int(i)]) for i, words in zip(tids.tolist(), tokens, strict=True)], k1=self.k1, b=self.b,
        )

    def search_vectors(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        allowed = self.catalog.allowed(filters)
        if self.vectors is None or (allowed is not None and not len(allowed)):
            return [Candidates() for _ in range(len(queries))]
        scores, found = self.vectors.search(queries, k, allowed)
        return [Candidates(found[i][found[i] >= 0], scores[i][found[i] >= 0]) for i in range(len(found))]

    def search_keywords(self, query: str, k: int, filters: Filters) -> Candidates:
        if self.bm25 is None:
            return Candidates()
        raw = self.bm25.scores(self.tokenizer.terms(query))
        if not len(raw):
            return Candidates()
        allowed = self.catalog.allowed(filters)
        return top_k(raw, self.bm25.ids, k, None if allowed is None else np.isin(self.bm25.ids, allowed))
