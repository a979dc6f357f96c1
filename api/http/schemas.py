"""Pydantic models of the HTTP API that are not read models: errors, health, timeline, upload, graph, SPARQL.

The answers about regulations, measures, units and documents are the read models of
:mod:`policykg.graph.readmodels` and search hits the :class:`~policykg.search.searcher.Hit`
dataclass; the routers declare those directly as their response models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policykg.graph.readmodels import DocumentSummary
from policykg.search.searcher import Hit


class _ExtraFieldsKept(BaseModel):
    """A response object that passes on fields beyond the declared ones (the graph view adds per-type fields)."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    """The body of every error response."""

    detail: Any = Field(description="What went wrong (a message, or the list of invalid parameters for 422).")


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Unknown id or name"}}
"""The ``responses`` entry of routers whose paths name a regulation, unit, measure, issuer or document."""


class HealthOut(BaseModel):
    """Liveness, store counts and where the backends run."""

    status: Literal["ok"] = "ok"
    version: str
    documents: int
    measures: int
    regulations: int
    units: int
    passages: int
    uploads: bool = Field(description="Whether POST /documents is enabled (an API key is configured).")
    graph: str = Field("embedded", description="Where SPARQL runs: embedded, or the SPARQL server's URL.")
    vectors: str = Field("faiss", description="Where vectors are searched: faiss, or the Milvus server and collection.")


# ---------------------------------------------------------------- timeline
class TimelineYear(BaseModel):
    """The best passages of one year."""

    year: int
    best: float | None = Field(description="Best score that year (null: nothing on the topic that year).")
    hits: list[Hit]


class TimelineOut(BaseModel):
    """Best passages on a topic, year by year (oldest first)."""

    query: str
    years: list[TimelineYear]


# ---------------------------------------------------------------- upload
class IngestOut(BaseModel):
    """What an upload became; file names are the sanitised upload name."""

    ok: bool
    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    failed: list[str]
    seconds: float
    filename: str = Field(description="The sanitised name the upload was stored under.")
    detected_type: str = Field(description="File type recognised from the content: pdf, docx, html or text.")
    documents: list[DocumentSummary] = Field(default_factory=list, description="The document(s) the upload became.")


# ---------------------------------------------------------------- graph
class GraphNode(_ExtraFieldsKept):
    """A node of the drawn graph (with the per-type fields of :mod:`policykg.api.views`)."""

    id: str
    type: str = Field(description="unit, measure or regulation (document/article/indicator around a center).")
    label: str
    degree: int


class GraphEdge(_ExtraFieldsKept):
    """An edge of the drawn graph (an ``implements`` edge carries its evidence)."""

    id: str
    source: str
    target: str
    relation: str


class GraphOut(BaseModel):
    """Nodes and edges of the responsibility graph, capped at ``max_nodes``."""

    center: str | None = None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool
    total_nodes: int
    filters: dict[str, Any]


# ---------------------------------------------------------------- sparql
class SparqlIn(BaseModel):
    """A read-only SPARQL query in a JSON body."""

    query: str = Field(min_length=1, max_length=20_000, description="A read-only SELECT, ASK, CONSTRUCT or DESCRIBE query.")
    limit: int = Field(1000, ge=1, le=10_000, description="Row limit.")


class SparqlOut(BaseModel):
    """A SPARQL answer: rows for SELECT, a boolean for ASK, triples for CONSTRUCT/DESCRIBE."""

    type: Literal["select", "ask", "graph"]
    vars: list[str] | None = None
    rows: list[dict[str, str | None]] | None = None
    boolean: bool | None = None
    triples: list[list[str]] | None = None
    truncated: bool | None = None
