"""One router per resource of the HTTP API; :data:`ROUTERS` is the order the app mounts them in."""

from __future__ import annotations

from fastapi import APIRouter

from policykg.api.http.routers import (
    documents,
    graph,
    health,
    issuers,
    measures,
    regulations,
    search,
    sparql,
    units,
)

ROUTERS: tuple[APIRouter, ...] = (
    health.router, search.router, regulations.router, measures.router, units.router,
    issuers.router, documents.router, graph.router, sparql.router,
)

__all__ = ["ROUTERS"]
