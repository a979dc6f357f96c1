"""The query adapter: the linear map's algebra, its file, the shipped file, and its effect on real queries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from policykg.api.kb import KnowledgeBase
from policykg.ingest.protocols import Encoder
from policykg.search.adapter import DEFAULT_ADAPTER, QueryAdapter, load_adapter
from policykg.search.encoders import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[2]


def _unit(rows: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_identity_changes_nothing() -> None:
    x = _unit(5)
    np.testing.assert_allclose(QueryAdapter.identity()(x), x, atol=1e-6)


def test_low_rank_equals_full_weight_and_rows_are_unit_length() -> None:
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal((384, 8)).astype(np.float32) * 0.1, rng.standard_normal((384, 8)).astype(np.float32) * 0.1
    b = rng.standard_normal(384).astype(np.float32) * 0.01
    low = QueryAdapter(bias=b, u=u, v=v)
    full = QueryAdapter(bias=b, weight=np.eye(384, dtype=np.float32) + u @ v.T)
    x = _unit(7)
    y = low(x)
    np.testing.assert_allclose(y, full(x), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(y, x, atol=1e-3)  # the map does move the vectors
    np.testing.assert_allclose(low(x[0]), y[0], atol=1e-6)  # one vector in, one vector out


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    adapter = QueryAdapter(bias=rng.standard_normal(384).astype(np.float32), weight=rng.standard_normal((384, 384)).astype(np.float32), info={"model": DEFAULT_MODEL, "reg": 1.0})
    path = tmp_path / "a.npz"
    adapter.save(path)
    back = QueryAdapter.load(path)
    assert back.info == adapter.info
    x = _unit(3)
    np.testing.assert_allclose(back(x), adapter(x), atol=1e-6)
    assert load_adapter(path, model="some-other-model") is None  # trained for another encoder: not applied
    assert load_adapter(path, model=f"{DEFAULT_MODEL}@onnx-int8") is not None  # same model, int8 backend
    assert load_adapter(tmp_path / "missing.npz") is None


def test_wrong_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="384-d"):
        QueryAdapter.identity(384)(np.ones((2, 128), np.float32))
    with pytest.raises(ValueError):
        QueryAdapter(bias=np.zeros(384, np.float32))


@pytest.mark.skipif(not DEFAULT_ADAPTER.is_file(), reason="no shipped adapter")
def test_shipped_adapter_is_small_and_for_the_bundled_model() -> None:
    assert DEFAULT_ADAPTER.stat().st_size < 4 * 2**20
    adapter = load_adapter(model=DEFAULT_MODEL)
    assert adapter is not None and adapter.dim == 384
    assert adapter.info["model"] == DEFAULT_MODEL


def test_query_time_does_not_import_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from policykg.search.adapter import QueryAdapter, load_adapter\n"
        "a = load_adapter() or QueryAdapter.identity()\n"
        "a(np.ones((1, 384), np.float32))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_ADAPTER.is_file(), reason="no shipped adapter")
def test_shipped_adapter_does_not_hurt_the_bench_queries(corpus_store: KnowledgeBase, encoder: Encoder) -> None:
    """On bench/data/queries.jsonl (never trained on), dense R@10 over every passage stays within 0.03."""
    from policykg.search.evaluation import Judge, load_queries, score
    from policykg.search.searcher import Hit

    store = corpus_store.store
    ids, vecs = store.passage_vectors(store.vector_dim() or 384)
    passages = {p.id: p for p in store.passages()}
    queries = load_queries(REPO / "bench" / "data" / "queries.jsonl")
    judge = Judge(store.documents(), lambda d: store.document(d).text)  # type: ignore[union-attr]
    q = encoder.encode_queries([x.q for x in queries])
    adapter = load_adapter(model=DEFAULT_MODEL)
    assert adapter is not None

    def recall(qv: np.ndarray) -> float:
        top = np.argsort(-(qv @ vecs.T), axis=1)[:, :10]
        hits = [[Hit(p.doc_id, "", None, None, "", "", p.article, p.text, p.start, p.end, 0.0, p.id) for p in (passages[int(ids[r])] for r in rows)] for rows in top]
        return score(queries, hits, judge)["recall@10"]

    before, after = recall(q), recall(adapter(q))
    assert before > 0.3  # the set and the store line up
    assert after >= before - 0.03
