"""``GET /search`` (hybrid semantic search) and ``GET /timeline`` (best passages year by year)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from policykg.api.http.deps import KB
from policykg.api.http.schemas import ErrorOut, TimelineOut, TimelineYear
from policykg.graph.model import DocType
from policykg.search.ranking import Mode
from policykg.search.searcher import Hit

router = APIRouter(tags=["search"])


@router.get("/search", summary="Hybrid semantic search", responses={422: {"model": ErrorOut}})
def get_search(
    kb: KB,
    q: Annotated[str, Query(min_length=1, max_length=500, description="What to look for, in Chinese.")],
    k: Annotated[int, Query(ge=1, le=200, description="Number of hits.")] = 10,
    year: Annotated[int | None, Query(ge=1900, le=2200, description="Only reports reviewing this year.")] = None,
    year_from: Annotated[int | None, Query(alias="from", ge=1900, le=2200, description="First year.")] = None,
    year_to: Annotated[int | None, Query(alias="to", ge=1900, le=2200, description="Last year.")] = None,
    doc_type: Annotated[DocType | None, Query(alias="type", description="report or regulation.")] = None,
    issuer: Annotated[str | None, Query(max_length=200, description="Issuer (substring).")] = None,
    regulation: Annotated[str | None, Query(max_length=200, description="Only a regulation's articles and the measures linked to it.")] = None,
    mode: Annotated[Mode, Query(description="hybrid, dense or bm25.")] = "hybrid",
    group: Annotated[bool, Query(description="One hit per document.")] = False,
) -> list[Hit]:
    if not q.strip():
        raise HTTPException(422, "q must not be blank")
    if year is not None and (year_from is not None or year_to is not None):
        raise HTTPException(422, "give year or from/to, not both")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise HTTPException(422, "from must not be after to")
    return kb.search(
        q, k=k, year=year, year_from=year_from, year_to=year_to, doc_type=doc_type, issuer=issuer,
        regulation=regulation, mode=mode, group_by_doc=group,
    )


@router.get("/timeline", summary="Best passages on a topic, year by year")
def get_timeline(
    kb: KB,
    q: Annotated[str, Query(min_length=1, max_length=500, description="A topic: 科技成果转化, 营商环境 …")],
    per_year: Annotated[int, Query(ge=1, le=20)] = 3,
    issuer: Annotated[str | None, Query(max_length=200)] = None,
    mode: Mode = "hybrid",
    keep_empty: Annotated[bool, Query(description="List a year with nothing on the topic (no hits, best null).")] = False,
) -> TimelineOut:
    if not q.strip():
        raise HTTPException(422, "q must not be blank")
    years = kb.timeline(q, per_year=per_year, issuer=issuer, mode=mode, keep_empty=keep_empty)
    return TimelineOut(
        query=q,
        years=[TimelineYear(year=y, best=max((h.score for h in hits), default=None), hits=hits) for y, hits in sorted(years.items())],
    )
