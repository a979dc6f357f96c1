"""``/sparql``: read-only SPARQL over the graph, the query in the URL (GET) or in a JSON body (POST).

Each query runs at most :data:`SPARQL_TIMEOUT` seconds and returns at most :data:`SPARQL_MAX_ROWS` rows;
updates, syntax errors and stopped queries are 400 (by the app's error handler).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from policykg.api.http.deps import KB
from policykg.api.http.schemas import ErrorOut, SparqlIn, SparqlOut
from policykg.api.kb import KnowledgeBase

SPARQL_TIMEOUT = 10.0
SPARQL_MAX_ROWS = 10_000

router = APIRouter(prefix="/sparql", tags=["sparql"], responses={400: {"model": ErrorOut, "description": "Not a read-only query, or too slow"}})


def _run(kb: KnowledgeBase, query: str, limit: int) -> dict[str, Any]:
    return kb.sparql(query, limit=min(limit, SPARQL_MAX_ROWS), timeout=SPARQL_TIMEOUT)


@router.get("", response_model=SparqlOut, response_model_exclude_none=True, summary="Read-only SPARQL (query in the URL)")
def get_sparql(
    kb: KB,
    query: Annotated[str, Query(min_length=1, max_length=20_000)],
    limit: Annotated[int, Query(ge=1, le=SPARQL_MAX_ROWS)] = 1000,
) -> dict[str, Any]:
    return _run(kb, query, limit)


@router.post("", response_model=SparqlOut, response_model_exclude_none=True, summary="Read-only SPARQL (query in a JSON body)")
def post_sparql(kb: KB, body: SparqlIn) -> dict[str, Any]:
    return _run(kb, body.query, body.limit)
