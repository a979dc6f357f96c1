"""``/units``: the responsible units with their measure counts, and one unit with its parent, sub-units and measures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND
from policykg.graph.readmodels import UnitDetail, UnitSummary

router = APIRouter(prefix="/units", tags=["units"], responses=NOT_FOUND)


@router.get("", summary="Units and their measure counts")
def list_units(kb: KB) -> list[UnitSummary]:
    return kb.units()


@router.get("/{unit_id}", summary="A unit, its parent, sub-units and measures")
def get_unit(kb: KB, unit_id: Annotated[str, PathParam(min_length=1, max_length=200, description="Unit id, name or alias.")]) -> UnitDetail:
    return kb.unit(unit_id)
