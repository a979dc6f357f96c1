"""``/issuers/{issuer}/…``: one issuer across the years: diff of two reports, plans against results, indicator series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND
from policykg.graph.model import MeasureStatus

router = APIRouter(prefix="/issuers", tags=["across the years"], responses=NOT_FOUND)
IssuerName = Annotated[str, PathParam(min_length=1, max_length=200, description="Issuer or a part of its name: 国务院, 深圳市人民政府.")]


@router.get("/{issuer}/diff", summary="Continued, new and dropped measures between two reports")
def get_issuer_diff(
    kb: KB,
    issuer: IssuerName,
    year_from: Annotated[int, Query(alias="from", ge=1900, le=2200, description="Year the earlier report reviews.")],
    year_to: Annotated[int, Query(alias="to", ge=1900, le=2200, description="Year the later report reviews.")],
    status: Annotated[MeasureStatus | None, Query(description="Only done or planned measures.")] = None,
) -> dict[str, Any]:
    return kb.diff(issuer, year_from, year_to, status=status)


@router.get("/{issuer}/plans", summary="Plans for a year against what the report on that year says was done")
def get_issuer_plans(
    kb: KB, issuer: IssuerName, year: Annotated[int, Query(ge=1900, le=2200, description="The year planned for.")],
) -> dict[str, Any]:
    return kb.plans(issuer, year)


@router.get("/{issuer}/indicators", summary="Indicator series: targets and actuals by year")
def get_issuer_indicators(
    kb: KB, issuer: IssuerName, name: Annotated[str | None, Query(max_length=100, description="Name or variant: 经济增长.")] = None,
) -> list[dict[str, Any]]:
    return kb.indicators(issuer, name)
