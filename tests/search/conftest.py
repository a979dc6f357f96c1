"""Shared fixtures for the search tests."""

from __future__ import annotations

import pytest

from policykg.search.embeddings import Encoder, load_encoder


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The default encoder (converted bundled multilingual-e5-small), loaded once per test session."""
    return load_encoder()
