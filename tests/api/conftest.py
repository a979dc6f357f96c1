"""Fixtures of the HTTP API tests: one real-model knowledge base per session, and apps over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from policykg.api.kb import KnowledgeBase
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS

API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def api_kb(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, backend: str, data_dir_for: Callable[[Path], Path],
) -> Iterator[KnowledgeBase]:
    """The founding report and the three regulations it cites, on the real embedding model (built once per configuration)."""
    kb = KnowledgeBase(data_dir_for(tmp_path_factory.mktemp(f"api-kb-{backend}")))
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    yield kb
    kb.close()


@pytest.fixture()
def upload_kb(api_kb: KnowledgeBase, tmp_path: Path, data_dir_for: Callable[[Path], Path]) -> Iterator[KnowledgeBase]:
    """An empty knowledge base for upload tests (shares the loaded model, leaves ``api_kb`` untouched)."""
    kb = KnowledgeBase(data_dir_for(tmp_path / "upload-kb"), encoder=api_kb.encoder())
    yield kb
    kb.close()
