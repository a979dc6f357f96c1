"""The dependencies the routers declare with ``Annotated``: the knowledge base and the upload key check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader

from policykg.api.kb import KnowledgeBase


def get_kb(request: Request) -> KnowledgeBase:
    """The knowledge base the app was created with."""
    kb: KnowledgeBase = request.app.state.kb
    return kb


KB = Annotated[KnowledgeBase, Depends(get_kb)]
"""A route parameter typed ``KB`` receives the app's knowledge base."""

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Needed for POST /documents and DELETE /documents/{id}.")


def require_api_key(request: Request, key: Annotated[str | None, Depends(_api_key_header)]) -> None:
    """Uploads are off (403) without a configured key; a missing key is 401, a wrong one 403."""
    expected: str | None = request.app.state.api_key
    if not expected:
        raise HTTPException(403, "uploads and removals are disabled on this server (no API key configured)")
    if not key:
        raise HTTPException(401, "missing X-API-Key header", headers={"WWW-Authenticate": "APIKey"})
    if not hmac.compare_digest(key.encode("utf-8"), expected.encode("utf-8")):
        raise HTTPException(403, "wrong API key")


ApiKey = Depends(require_api_key)
"""Put in a route's ``dependencies`` to require the upload key."""
