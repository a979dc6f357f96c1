"""``/graph``: the responsibility graph for drawing (whole, filtered, or around a center), and its overview.

``/graph/overview`` aggregates on the server: units × regulations (or × years) with edge weight = the
number of measures, cut to the heaviest units and targets; ``/graph/overview/edge`` expands one edge
into its measures with their evidence.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND, GraphOut
from policykg.api.views import graph_view
from policykg.graph.model import LinkMethod
from policykg.graph.readmodels import LinkRelation, Overview, OverviewBy, OverviewEdgeDetail

router = APIRouter(tags=["graph"])
GRAPH_MAX_NODES = 500

Issuer = Annotated[str | None, Query(max_length=200, description="Only measures of documents whose issuer contains this.")]
YearFrom = Annotated[int | None, Query(alias="from", ge=1900, le=2200, description="Only measures of this year or later.")]
YearTo = Annotated[int | None, Query(alias="to", ge=1900, le=2200, description="Only measures of this year or earlier.")]
Relation = Annotated[LinkRelation, Query(description="What the measures did with the regulation: implements (default), drafts, revises, studies.")]
Methods = Annotated[list[LinkMethod] | None, Query(alias="method", description="Link methods (repeatable).")]


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


@router.get("/graph/overview", summary="Units × regulations (or × years), weighted by measures")
def get_overview(
    kb: KB,
    by: Annotated[OverviewBy, Query(description="regulation: units × regulations; year: units × years.")] = "regulation",
    issuer: Issuer = None,
    year_from: YearFrom = None,
    year_to: YearTo = None,
    relation: Relation = "implements",
    method: Methods = None,
    max_units: Annotated[int, Query(ge=1, le=500, description="Keep the heaviest units.")] = 50,
    max_targets: Annotated[int, Query(ge=1, le=1000, description="Keep the heaviest regulations (or years).")] = 100,
) -> Overview:
    return kb.overview(
        by=by, issuer=issuer, year_from=year_from, year_to=year_to, relation=relation, methods=method,
        max_units=max_units, max_targets=max_targets,
    )


@router.get("/graph/overview/edge", summary="One overview edge: its measures with their evidence", responses=NOT_FOUND)
def get_overview_edge(
    kb: KB,
    unit: Annotated[str, Query(min_length=1, max_length=200, description="Unit id, name or alias.")],
    regulation: Annotated[str | None, Query(min_length=1, max_length=300, description="Regulation id, name or alias.")] = None,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="A year (instead of a regulation).")] = None,
    issuer: Issuer = None,
    year_from: YearFrom = None,
    year_to: YearTo = None,
    relation: Relation = "implements",
    method: Methods = None,
) -> OverviewEdgeDetail:
    return kb.overview_edge(
        unit, regulation=regulation, year=year, issuer=issuer, year_from=year_from, year_to=year_to, relation=relation, methods=method,
    )
