"""Read models: the typed answers of the store's reads.

The facade returns them, the CLI prints them (``--json`` is :func:`to_json`), and the HTTP API
declares them as its ``response_model``: one shape per answer, written once. Plain dataclasses
(keyword-only, so a detail can extend its summary) of the domain model's values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from policykg.graph.model import Evidence, Indicator


def to_json(value: Any) -> Any:
    """A read model (or a list / dict of them) as plain JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- references
@dataclass(kw_only=True)
class DocumentRef:
    """Which document a measure stands in."""

    id: str
    title: str
    path: str


@dataclass(kw_only=True)
class UnitRef:
    """A unit (or a regulation, in a link) by id and name."""

    id: str
    name: str


@dataclass(kw_only=True)
class RegulationRef:
    """A regulation by id, name, aliases and kind."""

    id: str
    name: str
    aliases: list[str] = field(default_factory=list)
    kind: str | None = None


# ---------------------------------------------------------------- regulations
@dataclass(kw_only=True)
class RegulationBrief:
    """A regulation's own fields."""

    id: str
    name: str
    aliases: list[str] = field(default_factory=list)
    kind: str
    doc_id: str | None = None
    topic: str | None = None
    jurisdiction: str | None = None


@dataclass(kw_only=True)
class RegulationSummary(RegulationBrief):
    """A regulation with how many articles it has and how many measures and links point at it."""

    articles: int = 0
    measures: int = 0
    links: int = 0


@dataclass(kw_only=True)
class ArticleText:
    """One article of a regulation: its label (第十五条), chapter, text and span in the regulation's text."""

    id: str
    label: str
    number: int
    chapter: str
    text: str
    start: int
    end: int


@dataclass(kw_only=True)
class RegulationDetail(RegulationBrief):
    """A regulation and the articles of its current full text."""

    articles: list[ArticleText]


@dataclass(kw_only=True)
class RegulationMeasures:
    """Which measures implement a regulation (each with its evidence)."""

    regulation: RegulationRef
    measures: list[MeasureEvidence]


# ---------------------------------------------------------------- measures
@dataclass(kw_only=True)
class MeasureBrief:
    """A measure with its document and responsible units."""

    id: str
    title: str
    text: str
    year: int | None  # the year it reports on or plans for (None: the report has no year)
    status: str
    start: int
    end: int
    document: DocumentRef
    section: str
    units: list[UnitRef]


@dataclass(kw_only=True)
class MeasureEvidence(MeasureBrief):
    """A measure implementing a regulation, with every piece of evidence for it (best method first)."""

    evidence: list[Evidence]


@dataclass(kw_only=True)
class MeasureLink(Evidence):
    """A link of a measure: the regulation it implements and the evidence, flat (the fields of ``Evidence``)."""

    regulation: UnitRef


@dataclass(kw_only=True)
class MeasureDetail(MeasureBrief):
    """A measure, the regulations it implements and the figures it states."""

    links: list[MeasureLink]
    indicators: list[Indicator]


# ---------------------------------------------------------------- units
@dataclass(kw_only=True)
class UnitBrief:
    """A unit's own fields."""

    id: str
    name: str
    kind: str
    parent_id: str | None = None
    aliases: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class UnitSummary(UnitBrief):
    """A unit and how many measures it is responsible for."""

    measures: int = 0


@dataclass(kw_only=True)
class UnitDetail(UnitBrief):
    """A unit, its parent and sub-units, and the measures it is responsible for."""

    parent: UnitBrief | None = None
    children: list[UnitBrief]
    measures: list[MeasureBrief]


# ---------------------------------------------------------------- documents
@dataclass(kw_only=True)
class DocumentMeta:
    """A document's metadata (no text)."""

    id: str
    path: str
    title: str
    doc_type: str
    issuer: str | None = None
    year: int | None = None
    published: str | None = None
    format: str
    length: int


@dataclass(kw_only=True)
class DocumentSummary(DocumentMeta):
    """A row of the document list: metadata, when it was ingested and how many measures it holds."""

    ingested_at: str | None = None
    measures: int = 0


@dataclass(kw_only=True)
class DocumentDetail(DocumentMeta):
    """A document's metadata and the normalised stored text every [start, end) offset indexes."""

    content_hash: str
    text: str


__all__ = [
    "ArticleText",
    "DocumentDetail",
    "DocumentMeta",
    "DocumentRef",
    "DocumentSummary",
    "MeasureBrief",
    "MeasureDetail",
    "MeasureEvidence",
    "MeasureLink",
    "RegulationBrief",
    "RegulationDetail",
    "RegulationMeasures",
    "RegulationRef",
    "RegulationSummary",
    "UnitBrief",
    "UnitDetail",
    "UnitRef",
    "UnitSummary",
    "to_json",
]
