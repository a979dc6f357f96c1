"""Read models: the typed answers of the store's reads.

The facade returns them, the CLI prints them (``--json`` is :func:`to_json`), and the HTTP API
declares them as its ``response_model``: one shape per answer, written once. Plain dataclasses
(keyword-only, so a detail can extend its summary) of the domain model's values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal

from policykg.graph.model import Evidence, Indicator, LinkRelation


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
    """A regulation with how many articles it has, how many measures implement it (through how many links),
    and how many links of each relation point at it (``{"implements": 3, "studies": 1}``)."""

    articles: int = 0
    measures: int = 0
    links: int = 0
    relations: dict[str, int] = field(default_factory=dict)


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
    parent_id: str | None = None  # the measure this item (一是…, （1）) stands in
    unit_source: str = "text"  # text: named by the measure; parent: by its parent's lead-in; issuer: none named


@dataclass(kw_only=True)
class MeasureEvidence(MeasureBrief):
    """A measure implementing a regulation (or in another relation to it), with every piece of evidence for it
    (best method first) and the relations that evidence shows."""

    evidence: list[Evidence]
    relations: list[str] = field(default_factory=lambda: ["implements"])


@dataclass(kw_only=True)
class MeasureLink(Evidence):
    """A link of a measure: the regulation, what the measure did with it (implements, drafts, revises, studies)
    and the evidence, flat (the fields of ``Evidence``)."""

    regulation: UnitRef
    relation: str = "implements"


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


# ---------------------------------------------------------------- removals
@dataclass(kw_only=True)
class RemovedDocument:
    """The tombstone of a removed document: what it was and when it was removed (re-ingesting it clears this)."""

    id: str
    path: str
    title: str
    doc_type: str
    issuer: str | None = None
    year: int | None = None
    removed_at: str


@dataclass(kw_only=True)
class RemovalReport:
    """What a removal did: the documents removed now, those removed before, and how long it took."""

    removed: list[str] = field(default_factory=list)
    already_removed: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------- article coverage of a regulation
@dataclass(kw_only=True)
class CoverageMeasure:
    """A measure covering an article (or linked to the regulation without one), with its best link's evidence."""

    id: str
    title: str
    year: int | None
    status: str
    document: DocumentRef
    units: list[UnitRef]
    method: str
    quote: str  # document.text[start:end]
    start: int
    end: int
    score: float
    article: str | None = None  # 第十五条 (None: the link names no article)


@dataclass(kw_only=True)
class ArticleCoverage:
    """One article and the measures whose links name it: distinct measures per year, and in all."""

    id: str
    label: str
    number: int
    counts_by_year: dict[int, int]
    total: int
    measures: list[CoverageMeasure]


@dataclass(kw_only=True)
class ChapterCoverage:
    """A chapter (章; empty title: the regulation has none) and its articles in text order."""

    title: str
    articles: list[ArticleCoverage]


@dataclass(kw_only=True)
class CoverageSummary:
    """Articles in the text, covered (at least one measure) and not; distinct measures with and without an article."""

    articles: int
    covered: int
    uncovered: int
    measures: int
    without_article: int


@dataclass(kw_only=True)
class Coverage:
    """Which articles of a regulation held in full have implementing measures, in which years and by whom."""

    regulation: RegulationRef
    issuer: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    years: list[int]  # the years of the measures of the reports in scope: the columns of the grid
    chapters: list[ChapterCoverage]
    without_article: list[CoverageMeasure]  # linked to the regulation without an article: cover none
    summary: CoverageSummary


# ---------------------------------------------------------------- the responsibility overview
OverviewBy = Literal["regulation", "year"]


@dataclass(kw_only=True)
class OverviewNode:
    """A unit, a regulation or a year of the overview; ``weight``: distinct measures on its edges (before the cut)."""

    id: str
    type: str  # unit | regulation | year
    label: str
    weight: int
    kind: str | None = None


@dataclass(kw_only=True)
class OverviewEdge:
    """Unit → regulation (or year): ``weight`` distinct measures, and how many of them by their best link method."""

    id: str
    source: str
    target: str
    weight: int
    methods: dict[str, int]


@dataclass(kw_only=True)
class OverviewLeftOut:
    """What the cut to the heaviest units and targets left out."""

    units: int = 0
    targets: int = 0
    edges: int = 0


@dataclass(kw_only=True)
class Overview:
    """Units × regulations (or × years), edge weight = measures with a unit and a link in the filters."""

    by: str
    filters: dict[str, Any]
    measures: int  # distinct measures counted (with a unit and a link in the filters)
    without_unit: int  # measures with a link in the filters but no responsible unit (not drawn)
    units: list[OverviewNode]
    targets: list[OverviewNode]
    edges: list[OverviewEdge]
    left_out: OverviewLeftOut


@dataclass(kw_only=True)
class OverviewMeasure(MeasureBrief):
    """A measure behind an overview edge and its links in the filters (to that regulation, or to any in that year)."""

    links: list[MeasureLink]


@dataclass(kw_only=True)
class OverviewEdgeDetail:
    """One overview edge expanded: its measures with their evidence."""

    unit: UnitRef
    regulation: RegulationRef | None = None
    year: int | None = None
    weight: int
    measures: list[OverviewMeasure]


__all__ = [
    "ArticleCoverage",
    "ArticleText",
    "ChapterCoverage",
    "Coverage",
    "CoverageMeasure",
    "CoverageSummary",
    "DocumentDetail",
    "DocumentMeta",
    "DocumentRef",
    "DocumentSummary",
    "LinkRelation",
    "MeasureBrief",
    "MeasureDetail",
    "MeasureEvidence",
    "MeasureLink",
    "Overview",
    "OverviewBy",
    "OverviewEdge",
    "OverviewEdgeDetail",
    "OverviewLeftOut",
    "OverviewMeasure",
    "OverviewNode",
    "RegulationBrief",
    "RegulationDetail",
    "RegulationMeasures",
    "RegulationRef",
    "RegulationSummary",
    "RemovalReport",
    "RemovedDocument",
    "UnitBrief",
    "UnitDetail",
    "UnitRef",
    "UnitSummary",
    "to_json",
]
