"""``GET /measures/{measure_id}``: a measure, the regulations it implements and the figures it states."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam

from policykg.api.http.deps import KB
from policykg.api.http.schemas import NOT_FOUND
from policykg.graph.readmodels import MeasureDetail

router = APIRouter(prefix="/measures", tags=["measures"], responses=NOT_FOUND)


@router.get("/{measure_id}", summary="A measure, its links and indicators")
def get_measure(kb: KB, measure_id: Annotated[str, PathParam(min_length=1, max_length=200)]) -> MeasureDetail:
    return kb.measure(measure_id)
