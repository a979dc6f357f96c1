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

EXACT_LIMIT = 100_000  # exact scoring of a filtered HNSW search up to this many allowed passages
MAX_EF = 16_384  # widest HNSW walk for a filtered search
SERIAL_QUERIES = 16  # batches smaller than this are searched on the calling thread only
COMPRESS_ABOVE = 200_000  # "auto": exact (flat) up to this many passages, ivf-sq8 beyond
EXACT_FILTERED = 2_000  # ivf-sq8: a filter letting through at most this many passages is scored exactly
REFINE = 2  # ivf-sq8: candidates fetched per result wanted, re-scored on the full-precision vectors
KINDS = ("auto", "flat", "hnsw", "ivf-sq8")
VECTORS_FILE = "vectors.faiss"
FULL_FILE = "vectors-f32.npy"  # ivf-sq8: the full-precision vectors in passage id order, read from disk as needed
SENTENCES_FILE = "sentences.faiss"  # the sentence vectors of passages of two or more sentences (row number = id)
SENTENCE_PASSAGES_FILE = "sentence-passages.npy"  # the passage id of each sentence row
SENTENCE_FETCH = 3  # sentence rows fetched per passage wanted (a passage's sentences often come together)


def full_path(path: Path) -> Path:
    """Where an ivf-sq8 index saved at ``path`` keeps its full-precision vectors."""
    return path.with_name(FULL_FILE if path.name == VECTORS_FILE else f"{path.stem}-f32.npy")


def ivf_lists(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest sqrt(n), at most 65,536 and at most n/39
    (k-means wants 39 training points a list)."""
    return int(max(1, min(65_536, 2 ** round(np.log2(max(1.0, np.sqrt(n)))), n // 39)))


def ivf_probes(nlist: int) -> int:
    """Lists visited per query: a sixteenth of them, at least 32 (with the re-scoring, recall@10 0.98-0.99
    against exact search at 10^5-10^6 passages: bench/scale_vectors.py)."""
    return min(nlist, max(32, nlist // 16))


class DiskRows:
    """The rows of a float32 matrix saved with ``np.save``, read from the file when asked (``rows[positions]``).

    Read with ``pread`` rather than memory-mapped: the file's pages stay in the page cache, shared and
    reclaimable, instead of in this process's resident memory (a mapping of freshly written files maps whole
    large folios, ~1 MB for each row read).
    """

    def __init__(self, path: Path) -> None:
        header = np.load(path, mmap_mode="r")  # only the header is read
        if header.dtype != np.float32 or header.ndim != 2 or not header.flags.c_contiguous:
            raise ValueError(f"{path}: not a float32 matrix")
        self.shape: tuple[int, int] = (int(header.shape[0]), int(header.shape[1]))
        self.offset = int(header.offset)
        del header
        self.row_bytes = self.shape[1] * 4
        self.fd = os.open(path, os.O_RDONLY)
        if os.fstat(self.fd).st_size < self.offset + self.shape[0] * self.row_bytes:
            os.close(self.fd)
            raise ValueError(f"{path}: truncated")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, positions: np.ndarray) -> np.ndarray:
        out = np.empty((len(positions), self.shape[1]), np.float32)
        for i, pos in enumerate(np.asarray(positions, dtype=np.int64).tolist()):
            if os.preadv(self.fd, [out[i].data], self.offset + pos * self.row_bytes) != self.row_bytes:
                raise ValueError(f"short read at row {pos}")
        return out

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


class DiskArray:
    """Ranges of a 1-D array saved with ``np.save``, read from the file with ``pread`` (see :class:`DiskRows`)."""

    def __init__(self, path: Path) -> None:
        header = np.load(path, mmap_mode="r")
        if header.ndim != 1:
            raise ValueError(f"{path}: not a 1-D array")
        self.dtype, self.length, self.offset = header.dtype, int(header.shape[0]), int(header.offset)
        del header
        self.fd = os.open(path, os.O_RDONLY)
        if os.fstat(self.fd).st_size < self.offset + self.length * self.dtype.itemsize:
            os.close(self.fd)
            raise ValueError(f"{path}: truncated")

    def read(self, start: int, stop: int) -> np.ndarray:
        """Elements ``[start, stop)``."""
        out = np.empty(max(0, stop - start), self.dtype)
        if len(out) and os.preadv(self.fd, [out.data], self.offset + start * self.dtype.itemsize) != out.nbytes:
            raise ValueError(f"short read at {start}")
        return out

    def __del__(self) -> None:
        fd = getattr(self, "fd", None)
        if fd is not None:
            os.close(fd)


class FaissIndex:
    """faiss over the passage vectors, of one of three kinds:

    - ``flat``: exact inner product (IndexFlatIP), 1,536 bytes a passage in memory;
    - ``hnsw``: an HNSW graph over the full vectors (IndexHNSWFlat), ~1.8 KB a passage;
    - ``ivf-sq8``: an inverted file of 8-bit scalar-quantised vectors (IndexIVFScalarQuantizer), ~400 bytes a
      passage in memory; its candidates are re-scored on the full vectors, which stay on disk (read by row).

    ``auto`` is exact up to ``compress_above`` passages and ``ivf-sq8`` beyond. With ``half``, a ``flat``
    index keeps its vectors in fp16 (IndexScalarQuantizer, 768 bytes a row; scores within 5e-4 of fp32, 3e-5 on the corpus,
    about half the time: it is memory-bound); the sentence index uses it.
    """

    def __init__(self, index: object, ids: np.ndarray, full: np.ndarray | DiskRows | None = None) -> None:
        self.index = index
        self.ids = ids
        self.full = full  # ivf-sq8: vectors row-aligned with the ascending ``ids``
        self._sorted_ids: np.ndarray | None = ids if full is not None else None

    @property
    def kind(self) -> str:
        """``flat``, ``hnsw`` or ``ivf-sq8``."""
        if self.full is not None:
            return "ivf-sq8"
        import faiss

        return "hnsw" if hasattr(faiss.downcast_index(self.index.index), "hnsw") else "flat"  # type: ignore[attr-defined]

    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, kind: str = "auto", threads: int | None = None, *,
        compress_above: int = COMPRESS_ABOVE, nprobe: int | None = None, half: bool = False,
    ) -> FaissIndex:
        """An index of ``vectors`` (row i is passage ``ids[i]``) of ``kind`` (see the class)."""
        import faiss

        if kind not in KINDS:
            raise ValueError(f"unknown faiss index kind {kind!r} (expected one of {', '.join(KINDS)})")
        faiss.omp_set_num_threads(threads or os.cpu_count() or 1)
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[0] else 384
        if kind == "auto":
            kind = "flat" if len(ids) <= compress_above else "ivf-sq8"
        if kind == "ivf-sq8" and len(ids) >= 64:
            return cls._build_ivf(ids.astype(np.int64), vectors, dim, nprobe)
        base: Any
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efConstruction = 80
            base.hnsw.efSearch = 512
        elif half:
            base = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
        else:
            base = faiss.IndexFlatIP(dim)
        index = faiss.IndexIDMap2(base)
        if len(ids):
            index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
        return cls(index, ids.astype(np.int64))

    @classmethod
    def _build_ivf(cls, ids: np.ndarray, vectors: np.ndarray, dim: int, nprobe: int | None) -> FaissIndex:
        import faiss

        order = np.argsort(ids, kind="stable")
        if not np.array_equal(order, np.arange(len(ids))):  # the store hands them in id order already
            ids, vectors = ids[order], vectors[order]
        full = np.ascontiguousarray(vectors, dtype=np.float32)
        nlist = ivf_lists(len(ids))
        quantizer = faiss.IndexFlatIP(dim)
        ivf = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        quantizer.this.disown()  # type: ignore[attr-defined]  # each index owns (and frees) the one inside it
        ivf.own_fields = True
        sample = np.random.default_rng(0).choice(len(ids), min(len(ids), 64 * nlist), replace=False)
        ivf.train(full[np.sort(sample)])
        ivf.nprobe = nprobe or ivf_probes(nlist)
        index = faiss.IndexIDMap(ivf)  # inside, a passage's number is its row in ``full``
        ivf.this.disown()  # type: ignore[attr-defined]
        index.own_fields = True
        index.add_with_ids(full, ids)
        return cls(index, ids, full)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, passage ids), each (n_queries, k); id -1 pads missing results.

        ``allowed`` restricts the search to those passage ids. On an HNSW index a filtered
        graph walk loses most of the true neighbours when few passages pass (measured at 10^6:
        recall 0.25 with 4% allowed), so up to ``EXACT_LIMIT`` allowed passages are scored
        exactly, and a larger set widens the walk in proportion to how few pass. On ``ivf-sq8``
        up to ``EXACT_FILTERED`` allowed passages are scored exactly; beyond, more lists are
        visited in proportion to how few pass.
        """
        import faiss

        q = np.ascontiguousarray(queries, dtype=np.float32)
        # a few queries run on this thread alone: OpenMP threads spinning in each of several request
        # threads cost 15 ms a query on 2 busy cores instead of 0.2 ms (the setting is per thread)
        faiss.omp_set_num_threads(1 if len(q) < SERIAL_QUERIES else os.cpu_count() or 1)
        ntotal = self.index.ntotal  # type: ignore[attr-defined]
        if ntotal == 0:
            return np.zeros((len(q), 1), np.float32), -np.ones((len(q), 1), np.int64)
        k = max(1, min(k, ntotal))
        if self.full is not None:
            return self._search_ivf(q, k, allowed)
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

    def _search_ivf(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """ivf-sq8: ``REFINE`` × k candidates from the quantised lists, re-scored on the full vectors."""
        import faiss

        index: Any = self.index
        ivf: Any = faiss.downcast_index(index.index)
        fetch = min(index.ntotal, max(k * REFINE, k + 10))
        if allowed is None:
            _, found = index.search(q, fetch)
        else:
            allowed = np.ascontiguousarray(allowed, dtype=np.int64)
            if len(allowed) <= EXACT_FILTERED:
                return self._exact(q, k, allowed)
            share = len(allowed) / index.ntotal
            nprobe = int(min(ivf.nlist, np.ceil(ivf.nprobe / max(share, 1e-9))))
            params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBatch(allowed), nprobe=nprobe)  # type: ignore[call-arg]
            _, found = index.search(q, fetch, params=params)  # the id map passes the selector on, in its numbers
        return self._refine(q, k, found)

    def _refine(self, q: np.ndarray, k: int, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` of each query's candidates by exact inner product on the full vectors."""
        assert self.full is not None
        scores = np.zeros((len(q), k), np.float32)
        best = -np.ones((len(q), k), np.int64)
        for i in range(len(q)):
            cand = found[i][found[i] >= 0]
            if not len(cand):
                continue
            sims = self.full[np.searchsorted(self.ids, cand)] @ q[i]
            order = np.argsort(-sims, kind="stable")[:k]
            scores[i, : len(order)], best[i, : len(order)] = sims[order], cand[order]
        return scores, best

    def _rows(self, present: np.ndarray) -> np.ndarray:
        """The vectors of passages ``present`` (ids in the index, ascending)."""
        if self.full is not None:
            return np.asarray(self.full[np.searchsorted(self.ids, present)], dtype=np.float32)
        return self.index.reconstruct_batch(present)  # type: ignore[attr-defined]

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
        vecs = self._rows(present)
        sims = q @ vecs.T
        n = min(k, len(present))
        top = np.argpartition(-sims, n - 1, axis=1)[:, :n]
        for i in range(len(q)):
            order = top[i][np.argsort(-sims[i, top[i]], kind="stable")]
            scores[i, :n], found[i, :n] = sims[i, order], present[order]
        return scores, found

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (ivf-sq8: with its full vectors and ids beside it)."""
        import faiss

        faiss.write_index(self.index, str(path))  # type: ignore[call-overload]
        if self.full is not None:
            full = self.full if isinstance(self.full, np.ndarray) else self.full[np.arange(len(self.full))]
            np.save(full_path(path), full)

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        """Read an index written by :meth:`save` (ivf-sq8: its full vectors stay on disk, read by row when needed)."""
        import faiss

        index = faiss.read_index(str(path))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)  # type: ignore[attr-defined]
        if isinstance(faiss.downcast_index(index.index), faiss.IndexIVF):  # type: ignore[attr-defined]
            full = DiskRows(full_path(path))
            if len(full) != len(ids) or not np.all(ids[1:] > ids[:-1]):
                raise ValueError(f"{path}: {len(ids)} vectors but {len(full)} full vectors, or ids out of order")
            return cls(index, ids, full)
        return cls(index, ids)


class BM25Index:
    """BM25 (bm25s) over jieba tokens; scores every passage so filters stay exact.

    Loaded with ``disk=True`` (the default of a serving process), the score matrix stays in its files and
    only the columns of a query's terms are read (``pread``): the process holds the vocabulary and the
    column offsets, not the matrix (~8 bytes per passage and term).
    """

    def __init__(self, retriever: object | None, ids: np.ndarray, columns: tuple[np.ndarray, DiskArray, DiskArray] | None = None) -> None:
        self.retriever = retriever
        self.ids = ids
        self.columns = columns  # on disk: (indptr, data, indices) of the CSC score matrix
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
        if self.columns is None:
            return np.asarray(self.retriever.get_scores(known), dtype=np.float32)  # type: ignore[attr-defined]
        indptr, data, indices = self.columns  # what bm25s's get_scores does, reading only these columns
        out = np.zeros(len(self.ids), np.float32)
        for term in known:
            t = vocab[term]
            start, stop = int(indptr[t]), int(indptr[t + 1])
            np.add.at(out, indices.read(start, stop), data.read(start, stop))
        return out

    def save(self, path: Path) -> None:
        if self.retriever is not None:
            self.retriever.save(str(path))  # type: ignore[attr-defined]
        np.save(path / "passage_ids.npy", self.ids)

    @classmethod
    def load(cls, path: Path, *, disk: bool = True) -> BM25Index:
        """Read an index written by :meth:`save`; with ``disk`` its score matrix stays in its files (read by column)."""
        import bm25s

        ids = np.load(path / "passage_ids.npy")
        if not len(ids):
            return cls(None, ids)
        retriever = bm25s.BM25.load(str(path), mmap=disk)
        if not disk or retriever.nonoccurrence_array is not None:  # bm25l / bm25+ add a term-independent part
            return cls(retriever, ids)
        indptr = np.array(retriever.scores["indptr"])
        columns = (indptr, DiskArray(path / "data.csc.index.npy"), DiskArray(path / "indices.csc.index.npy"))
        if columns[1].length != int(indptr[-1]) or columns[2].length != int(indptr[-1]):
            raise ValueError(f"{path}: the score matrix does not match its column offsets")
        return cls(retriever, ids, columns)


def write_indexes(
    directory: Path, generation: int, vectors: FaissIndex | None, bm25: BM25Index,
    sentences: tuple[FaissIndex, np.ndarray] | None = None,
) -> None:
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
            vectors.save(tmp / VECTORS_FILE)
        if sentences is not None:
            sentences[0].save(tmp / SENTENCES_FILE)
            np.save(tmp / SENTENCE_PASSAGES_FILE, sentences[1])
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
        k1: float = 1.2, b: float = 0.75, compress_above: int = COMPRESS_ABOVE, nprobe: int | None = None,
        bm25_on_disk: bool = True,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown faiss index kind {kind!r} (expected one of {', '.join(KINDS)})")
        self.store = store
        self.directory = directory
        self.kind = kind
        self.threads = threads
        self.compress_above, self.nprobe, self.bm25_on_disk = compress_above, nprobe, bm25_on_disk
        self.k1, self.b = k1, b
        self.vectors: FaissIndex | None = None
        self.sentences: FaissIndex | None = None  # row i: a sentence of passage ``sentence_passages[i]``
        self.sentence_passages = np.zeros(0, np.int64)
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
                path = self.directory / VECTORS_FILE
                self.vectors = FaissIndex.load(path) if path.exists() else None
                self._load_sentences()
                if self.sentences is None and self.store.has_sentence_vectors():
                    raise ValueError("no sentence vectors beside the index")
                self.bm25 = BM25Index.load(self.directory / "bm25", disk=self.bm25_on_disk)
                # another process may have swapped in newer indexes while these were read
                loaded = read_generation(self.directory) == generation
            except Exception as exc:  # a damaged index is rebuilt, never trusted
                log.warning("index in %s unreadable (%s); rebuilding", self.directory, exc)
        if not loaded:
            self._build()
        self.tokenizer = Tokenizer.from_regulations(self.store.regulations())
        self._generation = generation
        if write and not loaded and self.bm25 is not None:
            sentences = (self.sentences, self.sentence_passages) if self.sentences is not None else None
            write_indexes(self.directory, generation, self.vectors, self.bm25, sentences)
            if self.vectors is not None and self.vectors.full is not None:  # keep the full vectors on disk only
                self.vectors = FaissIndex.load(self.directory / VECTORS_FILE)
            if self.sentences is not None and self.sentences.full is not None:
                self._load_sentences()

    def _load_sentences(self) -> None:
        path = self.directory / SENTENCES_FILE
        self.sentences, self.sentence_passages = None, np.zeros(0, np.int64)
        if path.exists():
            self.sentences = FaissIndex.load(path)
            self.sentence_passages = np.load(self.directory / SENTENCE_PASSAGES_FILE)
            if len(self.sentence_passages) != len(self.sentences.ids):
                raise ValueError(f"{path}: {len(self.sentences.ids)} sentence vectors but {len(self.sentence_passages)} passage ids")

    def _build(self) -> None:
        dim = self.store.vector_dim() or 384
        ids, vecs = self.store.passage_vectors(dim)
        self.vectors = (
            FaissIndex.build(ids, vecs, self.kind, self.threads, compress_above=self.compress_above, nprobe=self.nprobe)
            if len(ids) else None
        )
        sids, svecs = self.store.sentence_vectors(dim)
        self.sentence_passages = sids
        self.sentences = (
            FaissIndex.build(np.arange(len(sids), dtype=np.int64), svecs, self.kind, self.threads,
                             compress_above=self.compress_above, nprobe=self.nprobe, half=True)
            if len(sids) else None
        )
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

    def search_sentences(self, queries: np.ndarray, k: int, filters: Filters) -> list[Candidates]:
        allowed = self.catalog.allowed(filters)
        rows = None if allowed is None else np.flatnonzero(np.isin(self.sentence_passages, allowed))
        if self.sentences is None or (rows is not None and not len(rows)):
            return [Candidates() for _ in range(len(queries))]
        scores, found = self.sentences.search(queries, k * SENTENCE_FETCH, rows)
        out = []
        for i in range(len(found)):
            ok = found[i] >= 0
            pids, best = self.sentence_passages[found[i][ok]], scores[i][ok]
            first = np.sort(np.unique(pids, return_index=True)[1])[:k]  # rows come best first: a passage's best sentence
            out.append(Candidates(pids[first], best[first]))
        return out

    def search_keywords(self, query: str, k: int, filters: Filters) -> Candidates:
        if self.bm25 is None:
            return Candidates()
        raw = self.bm25.scores(self.tokenizer.terms(query))
        if not len(raw):
            return Candidates()
        allowed = self.catalog.allowed(filters)
        return top_k(raw, self.bm25.ids, k, None if allowed is None else np.isin(self.bm25.ids, allowed))
