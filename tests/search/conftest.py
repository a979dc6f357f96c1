"""Shared fixtures for the search tests."""

from __future__ import annotations

import pytest

from policykg.ingest.protocols import Encoder
from policykg.search.encoders import load_encoder


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The default encoder (converted bundled multilingual-e5-small), loaded once per test session."""
    return load_encoder()
