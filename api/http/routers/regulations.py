"""``/regulations``: the regulations in the store, one with its articles, the measures implementing it, and which of its articles they cover."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND, ErrorOut
from policykg.graph.model import LinkMethod, LinkRelation
from policykg.graph.readmodels import Coverage, RegulationDetail, RegulationMeasures, RegulationSummary

router = APIRouter(prefix="/regulations", tags=["regulations"], responses=NOT_FOUND)
RegId = Annotated[str, PathParam(min_length=1, max_length=300, description="Regulation id, canonical name or alias.")]


@router.get("", summary="Regulations in the store")
def list_regulations(kb: KB) -> list[RegulationSummary]:
    return kb.regulations()


@router.get("/{reg_id}", summary="A regulation and its articles")
def get_regulation(kb: KB, reg_id: RegId) -> RegulationDetail:
    return kb.regulation(reg_id)


@router.get("/{reg_id}/measures", summary="Measures implementing a regulation (or drafting, revising, studying it), with evidence")
def get_regulation_measures(
    kb: KB,
    reg_id: RegId,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="Only measures of this year.")] = None,
    method: Annotated[list[LinkMethod] | None, Query(description="Link methods (repeatable).")] = None,
    relation: Annotated[list[LinkRelation] | None, Query(
        description="What the measures did with it (repeatable): implements (default), drafts, revises, studies.")] = None,
) -> RegulationMeasures:
    return kb.measures_for(reg_id, year=year, methods=method, relations=relation or ("implements",))


@router.get(
    "/{reg_id}/coverage", summary="Which articles have implementing measures, in which years and by whom",
    responses={400: {"model": ErrorOut, "description": "The regulation is only cited (no full text)"}},
)
def get_regulation_coverage(
    kb: KB,
    reg_id: RegId,
    issuer: Annotated[str | None, Query(max_length=200, description="Only measures of documents whose issuer contains this.")] = None,
    year_from: Annotated[int | None, Query(alias="from", ge=1900, le=2200, description="Only measures of this year or later.")] = None,
    year_to: Annotated[int | None, Query(alias="to", ge=1900, le=2200, description="Only measures of this year or earlier.")] = None,
) -> Coverage:
    return kb.coverage(reg_id, issuer=issuer, year_from=year_from, year_to=year_to)
