"""FaissIndex: filtered search on HNSW returns the exact neighbours among the allowed passages.

Synthetic vectors on purpose: the property is about the index, not the model, and the sizes
that make HNSW the chosen kind are beyond the corpus.
"""

from __future__ import annotations

import numpy as np
import pytest

import policykg.search.local_index
from policykg.search.local_index import FaissIndex


def _clustered(n: int, dim: int = 384, centres: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like passage embeddings (which crowd by topic)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(vecs: np.ndarray, ids: np.ndarray, q: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    mask = np.isin(ids, allowed)
    sims = q @ vecs[mask].T
    return ids[mask][np.argsort(-sims, axis=1, kind="stable")[:, :k]]


@pytest.fixture(scope="module")
def hnsw() -> tuple[FaissIndex, np.ndarray, np.ndarray]:
    vecs = _clustered(20_000)
    ids = np.arange(1_000, 1_000 + len(vecs), dtype=np.int64) * 3  # ids are not positions
    return FaissIndex.build(ids, vecs, kind="hnsw", threads=2), ids, vecs


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def test_hnsw_filtered_search_is_exact_for_a_small_allowed_set(hnsw: tuple[FaissIndex, np.ndarray, np.ndarray]) -> None:
    index, ids, vecs = hnsw
    rng = np.random.default_rng(1)
    allowed = rng.choice(ids, 400, replace=False)  # 2% of the passages, e.g. one year of one issuer
    q = _clustered(30, seed=2)
    scores, found = index.search(q, 10, allowed)
    assert found.shape == (30, 10) and set(found.ravel()) <= set(allowed)
    assert (found == _exact(vecs, ids, q, allowed, 10)).all()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # ids that are not in the index are ignored; an allowed set smaller than k pads with -1
    few = np.concatenate([allowed[:3], [7, 8]])
    _, found = index.search(q[:2], 10, few)
    assert set(found[:, :3].ravel()) == set(allowed[:3].tolist()) and (found[:, 3:] == -1).all()


def test_hnsw_filtered_search_widens_the_walk_for_a_large_allowed_set(
    hnsw: tuple[FaissIndex, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the exact limit the filtered HNSW walk is widened by 1/selectivity: recall stays high
    where the plain walk (efSearch as built) loses neighbours."""
    index, ids, vecs = hnsw
    monkeypatch.setattr(policykg.search.local_index, "EXACT_LIMIT", 100)
    rng = np.random.default_rng(3)
    allowed = rng.choice(ids, 600, replace=False)  # 3%
    q = _clustered(50, seed=4)
    truth = _exact(vecs, ids, q, allowed, 10)
    _, found = index.search(q, 10, allowed)
    widened = _recall(found, truth)

    import faiss

    sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed))
    _, plain = index.index.search(q, 10, params=faiss.SearchParametersHNSW(sel=sel, efSearch=16))  # type: ignore[attr-defined,call-arg]
    print(f"recall@10 widened {widened:.3f}, plain walk {_recall(plain, truth):.3f}")
    assert widened >= 0.95, widened
    assert widened > _recall(plain, truth)


def test_flat_filtered_search_is_exact() -> None:
    vecs = _clustered(2_000, seed=5)
    ids = np.arange(len(vecs), dtype=np.int64) + 10
    index = FaissIndex.build(ids, vecs)
    allowed = ids[::7]
    q = _clustered(5, seed=6)
    _, found = index.search(q, 10, allowed)
    assert (found == _exact(vecs, ids, q, allowed, 10)).all()
