"""The domain model: documents, their measures, the regulations they implement, the units responsible.

Every span (``start``, ``end``) is a half-open character range into :attr:`Document.text`, the
normalised text stored for the document; ``text[start:end]`` is the quote.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

DocType = Literal["report", "regulation"]
MeasureStatus = Literal["done", "planned"]
LinkMethod = Literal["citation", "alias", "topic", "semantic"]
# what the measure did with the regulation: carried it out; drafted (起草/制定/出台) or changed (修订/修改) it; studied
# or publicised it (学习/宣传/普法); "which measures implement X" asks for ``implements`` only
LinkRelation = Literal["implements", "drafts", "revises", "studies"]
# law: national law (…法); regulation: State Council administrative regulation (…条例 without a jurisdiction);
# local_regulation: 地方性法规 (天津市…条例); rules: departmental or local rules (办法, 规定, 细则); policy: normative
# and policy documents (意见, 方案, 通知, 规划); draft: a regulation being drafted (…条例（草案）, 起草…条例)
RegulationKind = Literal["law", "regulation", "local_regulation", "rules", "policy", "draft", "other"]
UnitSource = Literal["text", "parent", "issuer"]  # where a measure's responsible units come from

class InvalidChoice(ValueError):
    """A value that is not one of a Literal type's values (one line naming what and the choices)."""


def check_choice(value: Any, choices: Any, what: str) -> Any:
    """``value`` if it is None or one of the values of the Literal type ``choices``; else InvalidChoice.

    The one check behind every --type/doc_type/status/method/engine given by a user (CLI, HTTP, manifest).
    """
    allowed = get_args(choices)
    if value is not None and value not in allowed:
        raise InvalidChoice(f"{what} must be {' or '.join(map(str, allowed))}, not {value!r}")
    return value


def stable_id(prefix: str, *parts: str, length: int = 12) -> str:
    """A short deterministic id such as ``doc:3f2a…`` built from ``parts``."""
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:length]
    return f"{prefix}:{digest}"


def content_hash(text: str) -> str:
    """The hash that decides whether a document changed between two ingests."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Section:
    """A heading of a report or a 编/章/节 of a regulation, with the span it governs."""

    id: str
    doc_id: str
    level: int
    label: str  # the numbering as written: 一、 （一） 1. 第一章
    title: str
    start: int
    end: int
    parent_id: str | None = None
    path: str = ""  # "一、主要工作举措及成效 > （二）依法全面履行政府职能…"
    planned: bool = False  # inside the closing plan of a report


@dataclass
class Article:
    """One 条 of a regulation (第十五条), with the chapter it stands in."""

    id: str
    regulation_id: str
    doc_id: str
    number: int
    label: str  # 第十五条
    chapter: str  # "第二章 实验动物的饲育管理" (may be empty)
    text: str
    start: int
    end: int


@dataclass
class Regulation:
    """A law, regulation, rules or policy document, cited by reports or ingested in full."""

    id: str
    name: str  # canonical: 中华人民共和国科学技术进步法
    kind: RegulationKind
    aliases: list[str] = field(default_factory=list)
    doc_id: str | None = None  # set when its full text was ingested
    topic: str | None = None  # subject matter used for topic links: 实验动物
    jurisdiction: str | None = None  # 北京市 for local regulations, None for national
    key: str = ""  # identity shared by every form of the name (科学技术进步法)


@dataclass
class Unit:
    """An organisation or role: 市科技局, 局党委, 局主要负责人, 各区."""

    id: str
    name: str
    kind: str = "organisation"  # organisation | role | group
    parent_id: str | None = None
    aliases: list[str] = field(default_factory=list)


@dataclass
class Indicator:
    """A figure stated in a measure (现场检查40次, 各类应急预案达90余项) or, with ``measure_id`` None, in the
    document outside any measure (its targets paragraph, its summary of the year). A decrease is a negative
    change (信访总量下降62.8% → −62.8); ``bound`` gives the direction of 以上/不低于 (at least) and
    以内/不超过 (at most)."""

    id: str
    measure_id: str | None
    doc_id: str
    name: str
    value: float
    unit: str
    start: int
    end: int
    quote: str
    year: int | None = None
    kind: str = "actual"  # actual | target | requirement (a rule: 不低于50%)
    low: float | None = None
    high: float | None = None
    bound: str | None = None  # "at least" | "at most" | None
    approximate: bool = False


@dataclass
class Evidence:
    """Why a measure is linked to a regulation: the quote, its offsets, how it was found."""

    method: LinkMethod
    quote: str
    start: int
    end: int
    score: float
    article: str | None = None  # 第十五条
    mention: str | None = None  # the words that triggered the link: 《实验动物管理条例》
    mention_start: int | None = None
    mention_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Link:
    """Measure → Regulation, with its evidence and what the measure did (``relation``: implements by default)."""

    measure_id: str
    regulation_id: str
    evidence: Evidence
    article_id: str | None = None
    relation: LinkRelation = "implements"


@dataclass
class Measure:
    """A titled item of a report: ``1.加快推进简政放权。…``, ``一是…``, ``（三）…``."""

    id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    section: str
    year: int | None
    status: MeasureStatus
    units: list[str] = field(default_factory=list)  # unit ids, responsible
    parent_id: str | None = None  # the measure this item (一是…, （1）, ①) stands in
    # where its units come from: "text" (named in its own text, see the unit mentions), "parent" (named in the
    # text of the measure it stands in), "issuer" (none named: the issuer by default)
    unit_source: UnitSource = "text"


@dataclass
class Document:
    """One ingested file: its metadata and the normalised text every offset points into."""

    id: str
    path: str
    title: str
    doc_type: DocType
    text: str
    content_hash: str
    issuer: str | None = None
    year: int | None = None  # for reports: the year reviewed
    published: str | None = None
    format: str = "txt"

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "title": self.title,
            "doc_type": self.doc_type,
            "issuer": self.issuer,
            "year": self.year,
            "published": self.published,
            "format": self.format,
            "content_hash": self.content_hash,
            "length": len(self.text),
        }


@dataclass
class Passage:
    """A searchable chunk: a measure/paragraph of a report or an article of a regulation."""

    id: int
    doc_id: str
    start: int
    end: int
    text: str
    section: str
    article: str | None = None
    embed_text: str = ""  # what the encoder sees (adds regulation name and chapter)


@dataclass
class Extraction:
    """Everything ingest found in one document, ready to be stored in one transaction."""

    document: Document
    sections: list[Section] = field(default_factory=list)
    measures: list[Measure] = field(default_factory=list)
    regulations: list[Regulation] = field(default_factory=list)  # cited or defined
    articles: list[Article] = field(default_factory=list)
    units: list[Unit] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    unit_mentions: list[tuple[str, str | None, int, int]] = field(default_factory=list)  # (unit id, measure id, start, end)


@dataclass
class Citation:
    """A regulation named in a document: 《实验动物管理条例》, or 《条例》 through a local alias."""

    doc_id: str
    regulation_key: str
    surface: str
    method: LinkMethod  # citation | alias
    start: int
    end: int
    article: str | None = None
