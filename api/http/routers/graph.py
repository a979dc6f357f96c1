"""``GET /graph``: nodes and edges of the responsibility graph for drawing (whole, filtered, or around a center)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND, GraphOut
from policykg.api.views import graph_view

router = APIRouter(tags=["graph"])
GRAPH_MAX_NODES = 500


@router.get("/graph", response_model=GraphOut, summary="Nodes and edges of the responsibility graph", responses=NOT_FOUND)
def get_graph(
    kb: KB,
    center: Annotated[str | None, Query(max_length=300, description="Node id, regulation name or unit name; its neighbourhood.")] = None,
    depth: Annotated[int, Query(ge=1, le=4, description="Hops from center.")] = 1,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
    unit: Annotated[str | None, Query(max_length=200, description="Only the measures of this unit (and its sub-units).")] = None,
    regulation: Annotated[str | None, Query(max_length=300, description="Only the measures implementing this regulation.")] = None,
    max_nodes: Annotated[int, Query(ge=1, le=2000)] = GRAPH_MAX_NODES,
) -> dict[str, Any]:
    return graph_view(kb, center=center, depth=depth, year=year, unit=unit, regulation=regulation, max_nodes=max_nodes)
