"""The compressed vector index (``ivf-sq8``): recall against exact search, filters, persistence.

Above ``compress_above`` passages the embedded index keeps 8-bit scalar-quantised vectors in an inverted
file and re-scores its candidates on the full vectors, which stay on disk. These tests hold it to the
answers of exact search: on clustered synthetic vectors at a size where it is the chosen kind, and on
the real passage vectors of the corpus (slow: the corpus store on the real model).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest

import policykg.search.local_index
from policykg.api.config import load_config
from policykg.api.errors import KnowledgeBaseError
from policykg.api.kb import KnowledgeBase
from policykg.search.filters import PassageCatalog
from policykg.search.local_index import (
    FULL_FILE,
    VECTORS_FILE,
    BM25Index,
    DiskRows,
    FaissIndex,
    LocalIndex,
    read_generation,
)
from tests.search.test_index import _clustered, _exact, _recall


@pytest.fixture(scope="module")
def compressed() -> tuple[FaissIndex, np.ndarray, np.ndarray]:
    vecs = _clustered(30_000, seed=11)
    ids = np.arange(5, 5 + len(vecs), dtype=np.int64) * 7  # ids are not positions
    return FaissIndex.build(ids, vecs, kind="auto", threads=2, compress_above=20_000), ids, vecs


def test_auto_compresses_above_the_threshold_only(compressed: tuple[FaissIndex, np.ndarray, np.ndarray]) -> None:
    index, ids, vecs = compressed
    assert index.kind == "ivf-sq8" and index.full is not None
    small = FaissIndex.build(ids[:1000], vecs[:1000], kind="auto", compress_above=20_000)
    assert small.kind == "flat" and small.full is None
    with pytest.raises(ValueError, match="unknown faiss index kind"):
        FaissIndex.build(ids, vecs, kind="pq")


def test_compressed_recall_against_exact_search(compressed: tuple[FaissIndex, np.ndarray, np.ndarray]) -> None:
    index, ids, vecs = compressed
    q = _clustered(60, seed=12)
    scores, found = index.search(q, 10)
    truth = _exact(vecs, ids, q, ids, 10)
    recall = _recall(found, truth)
    print(f"ivf-sq8 recall@10 {recall:.3f}")
    assert recall >= 0.95, recall
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # the scores are the exact inner products (re-scored on the full vectors), not the quantised ones
    pos = {int(p): i for i, p in enumerate(ids)}
    assert np.allclose(scores[0], vecs[[pos[int(p)] for p in found[0]]] @ q[0], atol=1e-5)


def test_compressed_filters_are_honoured(
    compressed: tuple[FaissIndex, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A small allowed set is scored exactly; a large one through the quantised lists with more of them visited."""
    index, ids, vecs = compressed
    rng = np.random.default_rng(13)
    q = _clustered(40, seed=14)
    small = rng.choice(ids, 300, replace=False)
    _, found = index.search(q, 10, small)
    assert set(found.ravel()) <= set(small.tolist())
    assert (found == _exact(vecs, ids, q, small, 10)).all()

    monkeypatch.setattr(policykg.search.local_index, "EXACT_FILTERED", 100)
    large = rng.choice(ids, 1_500, replace=False)  # 5%: through the lists
    _, found = index.search(q, 10, large)
    assert set(found[found >= 0].ravel()) <= set(large.tolist())
    recall = _recall(found, _exact(vecs, ids, q, large, 10))
    print(f"ivf-sq8 filtered (5%) recall@10 {recall:.3f}")
    assert recall >= 0.95, recall
    # ids not in the index are ignored; fewer allowed than k pads with -1
    _, few = index.search(q[:2], 10, np.array([ids[0], ids[1], 3], dtype=np.int64))
    assert set(few[:, :2].ravel()) == {int(ids[0]), int(ids[1])} and (few[:, 2:] == -1).all()


def test_compressed_round_trip_keeps_the_full_vectors_on_disk(
    compressed: tuple[FaissIndex, np.ndarray, np.ndarray], tmp_path: Path,
) -> None:
    index, ids, _ = compressed
    index.save(tmp_path / VECTORS_FILE)
    loaded = FaissIndex.load(tmp_path / VECTORS_FILE)
    assert loaded.kind == "ivf-sq8" and isinstance(loaded.full, DiskRows)
    assert faiss.downcast_index(loaded.index.index).nprobe == faiss.downcast_index(index.index.index).nprobe  # type: ignore[attr-defined]
    q = _clustered(20, seed=15)
    for allowed in (None, ids[::50]):
        before, after = index.search(q, 10, allowed), loaded.search(q, 10, allowed)
        assert (before[1] == after[1]).all() and np.allclose(before[0], after[0])
    (tmp_path / FULL_FILE).write_bytes((tmp_path / FULL_FILE).read_bytes()[:1000])  # truncated: refused, not trusted
    with pytest.raises(ValueError):
        FaissIndex.load(tmp_path / VECTORS_FILE)


def test_local_index_writes_and_reloads_the_compressed_kind(founding_kb: KnowledgeBase, tmp_path: Path) -> None:
    """Through LocalIndex as the product runs it: written with its generation, read back by a new process's
    index (full vectors and the BM25 score matrix read from disk as needed), the same answers; a damaged file is rebuilt."""
    store = founding_kb.store
    catalog = PassageCatalog.load(store)
    gen = store.generation()
    directory = tmp_path / "index"
    writer = LocalIndex(store, directory, kind="auto", compress_above=10)
    with store.snapshot():
        writer.refresh(catalog, gen, write=True)
    assert read_generation(directory) == gen and (directory / FULL_FILE).exists()
    assert writer.vectors is not None and writer.vectors.kind == "ivf-sq8" and isinstance(writer.vectors.full, DiskRows)

    reader = LocalIndex(store, directory, kind="auto", compress_above=10)
    with store.snapshot():
        reader.refresh(catalog, gen)
    assert reader.vectors is not None and isinstance(reader.vectors.full, DiskRows)
    assert reader.bm25 is not None and reader.bm25.columns is not None  # the score matrix stays in its files
    ids, vecs = store.passage_vectors(store.vector_dim() or 384)
    q = vecs[:5]
    assert (reader.vectors.search(q, 10)[1] == writer.vectors.search(q, 10)[1]).all()
    assert (reader.vectors.search(q, 1)[1][:, 0] == ids[:5]).all()  # each passage finds itself first
    in_memory = BM25Index.load(directory / "bm25", disk=False)
    assert in_memory.columns is None
    for terms in (["实验动物"], ["实验动物", "许可", "实验动物", "管理"], ["没有这个词"]):
        assert np.array_equal(reader.bm25.scores(terms), in_memory.scores(terms)), terms
    assert reader.bm25.scores(["实验动物"]).max() > 0

    shutil.copyfile(directory / "state.json", tmp_path / "state.json")
    (directory / VECTORS_FILE).write_bytes(b"not an index")
    rebuilt = LocalIndex(store, directory, kind="auto", compress_above=10)
    with store.snapshot():
        rebuilt.refresh(catalog, gen, write=True)
    assert rebuilt.vectors is not None and rebuilt.vectors.kind == "ivf-sq8"
    assert (rebuilt.vectors.search(q, 10)[1] == writer.vectors.search(q, 10)[1]).all()


def test_vectors_settings_are_read_and_checked(tmp_path: Path) -> None:
    (tmp_path / "policykg.toml").write_text('[vectors]\nindex_kind = "ivf-sq8"\ncompress_above = 5000\nnprobe = 48\n')
    config = load_config(tmp_path, environ={"POLICYKG_KEYWORDS_ON_DISK": "off"})
    assert (config.vectors.index_kind, config.vectors.compress_above, config.vectors.nprobe, config.keywords.on_disk) == ("ivf-sq8", 5000, 48, False)
    (tmp_path / "policykg.toml").write_text('[vectors]\nindex_kind = "pq"\n')
    with pytest.raises(KnowledgeBaseError, match="index_kind"):
        load_config(tmp_path, environ={})


@pytest.mark.slow
def test_compressed_recall_on_the_corpus_vectors(corpus_store: KnowledgeBase) -> None:
    """On the real passage vectors of the whole corpus, and the bench's real queries on the real model."""
    import json

    store = corpus_store.store
    ids, vecs = store.passage_vectors(store.vector_dim() or 384)
    bench = Path(__file__).resolve().parents[2] / "bench" / "data" / "queries.jsonl"
    queries = [json.loads(line)["q"] for line in bench.read_text(encoding="utf-8").splitlines() if line.strip()]
    q = corpus_store.encoder().encode_queries(queries)
    index = FaissIndex.build(ids, vecs, kind="ivf-sq8", threads=2)
    _, found = index.search(q, 10)
    recall = _recall(found, _exact(vecs, ids, q, ids, 10))
    print(f"ivf-sq8 recall@10 on the corpus: {recall:.3f} ({len(ids)} passages, {len(q)} queries)")
    assert recall >= 0.95, recall
    reports = np.array([p["id"] for p in store.passage_meta() if p["doc_type"] == "report"], dtype=np.int64)
    _, found = index.search(q, 10, reports)
    assert set(found[found >= 0].ravel()) <= set(reports.tolist())
