"""Shared test fixtures."""

from __future__ import annotations

import itertools
import os
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from api.kb import KnowledgeBase

# The read-only corpus lives next to the repository (../shared/corpus); POLICYKG_CORPUS overrides it.
CORPUS = Path(
    os.environ.get("POLICYKG_CORPUS") or Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder; tests that need it are skipped when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS} (set POLICYKG_CORPUS)")
    return CORPUS


FOUNDING = "reports/fazhi/tianjin-kjj-fazhi-2023.txt"
FOUNDING_REGULATIONS = (
    "regulations/shiyan-dongwu-guanli-tiaoli.md",
    "regulations/renlei-yichuan-ziyuan-guanli-tiaoli-2019.md",
    "regulations/kejijinbufa-2021.md",
)


class HashingEncoder:
    """A stand-in encoder (character bigrams hashed into 384 dims) for tests where the model is beside the point."""

    dim = 384
    name = "hashing-test-encoder"

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for a, b in itertools.pairwise(t):
                out[i, zlib.crc32((a + b).encode()) % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self._encode(list(texts))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(list(texts))


@pytest.fixture(scope="session")
def hashing_encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture(scope="session")
def founding_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder) -> KnowledgeBase:
    """The founding report and the regulations it cites, by the manifest (stand-in encoder)."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("founding"), encoder=hashing_encoder)
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb


@pytest.fixture(scope="session")
def corpus_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """The whole corpus by its manifest, on the real embedding model (built once per session).

    POLICYKG_TEST_STORE names a store built the same way to copy instead (saves the ingest while
    developing; CI always builds it).
    """
    prebuilt = os.environ.get("POLICYKG_TEST_STORE")
    if prebuilt:
        target = tmp_path_factory.mktemp("corpus") / "data"
        shutil.copytree(prebuilt, target)
        return KnowledgeBase(target)
    kb = KnowledgeBase(tmp_path_factory.mktemp("corpus"))
    report = kb.ingest([], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    assert len(report.added) == 48
    return kb
