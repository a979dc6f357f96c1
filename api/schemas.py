"""Pydantic request and response models of the HTTP API (the shapes the OpenAPI page shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A response object that may carry fields added by later versions of the library."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(BaseModel):
    detail: Any = Field(description="What went wrong (a message, or the list of invalid parameters for 422).")


class HealthOut(BaseModel):
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


# ---------------------------------------------------------------- search
class HitOut(BaseModel):
    doc_id: str
    title: str
    issuer: str | None = None
    year: int | None = None
    doc_type: str
    section: str
    article: str | None = None
    text: str
    start: int = Field(description="Half-open span [start, end) of the passage in the document's stored text.")
    end: int
    score: float
    passage_id: int = 0
    path: str = ""
    terms: list[str] = Field(default_factory=list, description="Query words found in the text, for highlighting.")


class TimelineYear(BaseModel):
    year: int
    best: float = Field(description="Best score that year.")
    hits: list[HitOut]


class TimelineOut(BaseModel):
    query: str
    years: list[TimelineYear]


# ---------------------------------------------------------------- regulations and measures
class RegulationSummary(_Open):
    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: str
    doc_id: str | None = None
    topic: str | None = None
    jurisdiction: str | None = None
    articles: int = 0
    measures: int = 0
    links: int = 0


class ArticleOut(BaseModel):
    id: str
    label: str
    number: int
    chapter: str
    text: str
    start: int
    end: int


class RegulationDetail(_Open):
    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: str
    doc_id: str | None = None
    topic: str | None = None
    jurisdiction: str | None = None
    articles: list[ArticleOut]


class RegulationRef(_Open):
    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    kind: str | None = None


class DocumentRef(BaseModel):
    id: str
    title: str
    path: str


class UnitRef(BaseModel):
    id: str
    name: str


class EvidenceOut(_Open):
    method: str = Field(description="citation, alias, topic or semantic.")
    quote: str
    start: int
    end: int
    article: str | None = None
    score: float
    mention: str | None = None
    mention_start: int | None = None
    mention_end: int | None = None


class MeasureOut(_Open):
    id: str
    title: str
    text: str
    year: int | None = None
    status: str
    start: int
    end: int
    document: DocumentRef
    section: str
    units: list[UnitRef]


class MeasureWithEvidence(MeasureOut):
    evidence: list[EvidenceOut]


class RegulationMeasuresOut(BaseModel):
    regulation: RegulationRef
    measures: list[MeasureWithEvidence]


class LinkOut(EvidenceOut):
    regulation: UnitRef = Field(description="The regulation implemented (id and name).")


class MeasureDetail(MeasureOut):
    links: list[LinkOut]
    indicators: list[dict[str, Any]]


# ---------------------------------------------------------------- units
class UnitSummary(_Open):
    id: str
    name: str
    kind: str
    parent_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    measures: int = 0


class UnitBrief(_Open):
    id: str
    name: str
    kind: str
    parent_id: str | None = None
    aliases: list[str] = Field(default_factory=list)


class UnitDetail(UnitBrief):
    parent: UnitBrief | None = None
    children: list[UnitBrief]
    measures: list[MeasureOut]


# ---------------------------------------------------------------- documents
class _DocumentMeta(BaseModel):
    id: str
    path: str
    title: str
    doc_type: str
    issuer: str | None = None
    year: int | None = None
    published: str | None = None
    format: str
    length: int


class DocumentSummary(_DocumentMeta, _Open):
    measures: int = 0


class DocumentDetail(_DocumentMeta):
    content_hash: str
    text: str = Field(description="The normalised stored text every [start, end) offset indexes.")


class IngestOut(BaseModel):
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
class GraphNode(_Open):
    id: str
    type: str = Field(description="unit, measure or regulation (document/article/indicator around a center).")
    label: str
    degree: int


class GraphEdge(_Open):
    id: str
    source: str
    target: str
    relation: str


class GraphOut(BaseModel):
    center: str | None = None
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    truncated: bool
    total_nodes: int
    filters: dict[str, Any]


# ---------------------------------------------------------------- sparql
class SparqlIn(BaseModel):
    query: str = Field(min_length=1, max_length=20_000, description="A read-only SELECT, ASK, CONSTRUCT or DESCRIBE query.")
    limit: int = Field(1000, ge=1, le=10_000, description="Row limit.")


class SparqlOut(BaseModel):
    type: Literal["select", "ask", "graph"]
    vars: list[str] | None = None
    rows: list[dict[str, str | None]] | None = None
    boolean: bool | None = None
    triples: list[list[str]] | None = None
    truncated: bool | None = None
