"""The query path stays lean: what a serving process imports, and what the HTTP app loads before its first request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.search.local_index import LocalIndex
from tests.conftest import HashingEncoder

ROOT = Path(__file__).resolve().parents[2]
TORCH = ("torch", "sentence_transformers", "transformers")


def _modules_after(code: str, env: dict[str, str] | None = None) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; which heavy modules it left imported."""
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'sentence_transformers', 'transformers', 'faiss', 'bm25s', 'onnxruntime')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, **(env or {})}, check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_opening_a_knowledge_base_imports_no_model_runtime_and_no_index_library(founding_kb: KnowledgeBase) -> None:
    """Importing the CLI and the HTTP app and opening a store loads neither torch nor faiss/bm25s: they come with use."""
    loaded = _modules_after(
        "import policykg.api.cli, policykg.api.http\nfrom policykg.api.kb import KnowledgeBase\n"
        f"kb = KnowledgeBase({str(founding_kb.data_dir)!r})\nkb.regulations()"
    )
    assert not any(loaded.values()), loaded


def test_the_app_warms_the_indexes_and_the_encoder_at_start_up(founding_kb: KnowledgeBase) -> None:
    kb = KnowledgeBase(founding_kb.data_dir, encoder=HashingEncoder())
    index = kb.searcher.vectors
    assert kb.searcher._generation == -1 and getattr(index, "vectors", None) is None
    with TestClient(create_app(kb)) as client:
        # before any request: the indexes of the store's generation are loaded
        assert kb.searcher._generation == kb.store.generation()
        if isinstance(index, LocalIndex):  # Milvus holds its indexes itself
            assert index.vectors is not None and index.bm25 is not None
        r = client.get("/search", params={"q": "实验动物 许可", "k": 3})
        assert r.status_code == 200 and len(r.json()) == 3
    cold = KnowledgeBase(founding_kb.data_dir, encoder=HashingEncoder())
    with TestClient(create_app(cold, warm=False)):
        assert cold.searcher._generation == -1  # warm=False leaves it to the first request


def test_a_failing_warm_up_leaves_the_server_up(founding_kb: KnowledgeBase) -> None:
    class Broken(HashingEncoder):
        def encode_queries(self, texts: object) -> object:  # type: ignore[override]
            raise RuntimeError("no model here")

    kb = KnowledgeBase(founding_kb.data_dir, encoder=Broken())
    with TestClient(create_app(kb), raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/search", params={"q": "实验动物", "mode": "bm25"}).status_code == 200


@pytest.mark.slow
def test_a_search_on_the_onnx_encoder_imports_no_torch(corpus_store: KnowledgeBase) -> None:
    """Hybrid search through the facade and through ``policykg search`` with the int8 encoder: torch stays out."""
    env = {"POLICYKG_EMBED_BACKEND": "onnx-int8"}
    loaded = _modules_after(
        f"from policykg.api.kb import KnowledgeBase\nassert KnowledgeBase({str(corpus_store.data_dir)!r}).search('实验动物 许可')", env,
    )
    assert loaded["onnxruntime"] and loaded["faiss"] and loaded["bm25s"], loaded
    assert not any(loaded[m] for m in TORCH), loaded
    loaded = _modules_after(
        "import sys\nfrom policykg.api.cli import app\n"
        f"try:\n    app(['search', '实验动物 许可', '--data', {str(corpus_store.data_dir)!r}, '--json'])\nexcept SystemExit:\n    pass",
        env,
    )
    assert loaded["onnxruntime"] and not any(loaded[m] for m in TORCH), loaded
