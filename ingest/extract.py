"""Extraction of one document: a report's sections, measures, citations, units and (through indicators.py) its
indicators; a regulation's Regulation node, divisions and articles. `extract` dispatches on the type."""

from __future__ import annotations

import re

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Extraction,
    Measure,
    Regulation,
    Section,
    Unit,
    stable_id,
)
from policykg.ingest import laws
from policykg.ingest.indicators import measure_indicators
from policykg.ingest.structure import (
    NON_MEASURE_SECTION,
    ORDINAL_ITEM,
    SENTENCE_END,
    Block,
    Line,
    parse_regulation,
    parse_report,
    walk,
)
from policykg.ingest.units import UnitMention, find_units, issuer_unit, responsible_units

CITATION_RE = re.compile(r"《([^《》\n]{2,60})》")
BARE_LAW_RE = re.compile("|".join(sorted(laws.WELL_KNOWN_LAWS, key=len, reverse=True)))
LOCAL_ALIAS_RE = re.compile(r"[（(]以下简称[“\"《]([^”\"》]{1,20})[”\"》][）)]")
ARTICLE_AFTER_RE = re.compile(r"^(?:的)?(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)")
TITLED_MAX = 30
DIVISION_LEVELS = {"编": 1, "分编": 2, "章": 3, "节": 4}  # a regulation's divisions as section levels


def _sentence_title(text: str) -> str | None:
    """The title of a titled paragraph: a short first sentence (积极扩大有效投资。…)."""
    stripped = text.lstrip("—－- ")
    m = SENTENCE_END.search(stripped)
    if not m:
        return None
    first = stripped[: m.start()]
    if not (3 <= len(first) <= TITLED_MAX) or first.count("，") > 1 or len(stripped) <= m.end() + 5:
        return None
    if re.match(r"^(?:各位代表|过去一年|今年|同时|此外|但|我们)", first):
        return None
    return first


def _in_non_measure_section(block: Block) -> bool:
    """Whether ``block`` or a section above it is on shortcomings (不足, 问题 …): no measures there."""
    node: Block | None = block
    while node is not None and node.level > 0:
        if NON_MEASURE_SECTION.search(node.title):
            return True
        node = node.parent
    return False


def _measure(doc: Document, block: Block, title: str, start: int, end: int, reviewed: int | None) -> Measure:
    """A measure of ``block``; a planned one is for the year after ``reviewed`` (the year the report reviews)."""
    return Measure(
        id=stable_id("measure", doc.id, str(start)),
        doc_id=doc.id,
        title=title,
        text=doc.text[start:end],
        start=start,
        end=end,
        section=block.path(),
        year=(reviewed + 1 if block.planned else reviewed) if reviewed is not None else None,
        status="planned" if block.planned else "done",
    )


def _titled_paragraphs(paragraphs: list[Line]) -> list[tuple[Line, str]]:
    """Paragraphs with a sentence title, if a section has two or more of them (else none count)."""
    titled = [(para, title) for para in paragraphs if (title := _sentence_title(para.text))]
    return titled if len(titled) >= 2 else []


def extract_measures(doc: Document, root: Block) -> list[Measure]:
    """Titled items: numbered headings without sub-headings, and titled paragraphs."""
    measures: list[Measure] = []
    for block in walk(root):
        if block.level == 0 or _in_non_measure_section(block):
            continue
        titled = _titled_paragraphs([para for para in block.paragraphs if para.start >= block.title_end])
        if titled:
            for para, title in titled:
                measures.append(_measure(doc, block, title, para.start, para.end, doc.year))
            continue
        if not block.children and block.paragraphs:
            measures.append(_measure(doc, block, block.title, block.start, block.end, doc.year))
    measures.sort(key=lambda m: m.start)
    return measures


def extract_sections(doc: Document, root: Block) -> list[Section]:
    """Nested sections, including 一是…二是… items inside paragraphs."""
    sections: list[Section] = []
    section_ids: dict[int, str] = {}  # id(block) → its section id
    for block in walk(root):
        if block.level == 0:
            continue
        section_id = stable_id("section", doc.id, str(block.start), str(block.level))
        section_ids[id(block)] = section_id
        parent_id = section_ids.get(id(block.parent)) if block.parent is not None else None
        sections.append(
            Section(
                section_id,
                doc.id,
                block.level,
                block.label,
                block.title,
                block.start,
                block.end,
                parent_id,
                block.path(),
                block.planned,
            )
        )
        for para in block.paragraphs:
            items = list(ORDINAL_ITEM.finditer(para.text))
            if len(items) < 2:
                continue
            for i, item in enumerate(items):
                item_start = para.start + item.start(1)
                item_end = para.start + (items[i + 1].start(1) if i + 1 < len(items) else len(para.text))
                body = doc.text[item_start:item_end].rstrip("；;，,。 ")
                title = re.split(r"[，；。]", body[len(item.group(1)) :], maxsplit=1)[0][:40]
                sections.append(
                    Section(
                        stable_id("section", doc.id, str(item_start), "5"),
                        doc.id,
                        5,
                        item.group(1),
                        title,
                        item_start,
                        item_start + len(body),
                        section_id,
                        f"{block.path()} > {item.group(1)}{title}",
                        block.planned,
                    )
                )
    return sections


def _article_after(text: str, pos: int) -> str | None:
    """The article a citation ending at ``pos`` names (《…》第十五条 → 第十五条)."""
    found = ARTICLE_AFTER_RE.match(text, pos)
    return found.group(1) if found else None


def extract_citations(doc: Document) -> tuple[list[Citation], list[Regulation]]:
    """《…》 mentions that name a regulation, with document-local aliases (以下简称《条例》), and bare mentions
    of well-known laws (宪法, 行政处罚法 …); the regulations they name, with the aliases seen."""
    text = doc.text
    local_aliases: dict[str, str] = {}  # alias surface → regulation key
    citations: list[Citation] = []
    regulations: dict[str, Regulation] = {}  # key → regulation
    alias_positions: set[int] = set()  # where a （以下简称《…》） starts
    for definition in LOCAL_ALIAS_RE.finditer(text):
        before = text[max(0, definition.start() - 80) : definition.start()]
        cited = list(CITATION_RE.finditer(before))
        if cited and cited[-1].end() == len(before):
            local_aliases[definition.group(1)] = laws.regulation_key(cited[-1].group(1))
            alias_positions.add(definition.start())
    for mention in CITATION_RE.finditer(text):
        name = mention.group(1).strip()
        article = _article_after(text, mention.end())
        # the defining 《条例》 inside （以下简称《条例》） is not a citation of its own
        if any(pos <= mention.start() < pos + 20 for pos in alias_positions):
            continue
        if name in local_aliases:
            citations.append(
                Citation(doc.id, local_aliases[name], mention.group(0), "alias", mention.start(), mention.end(), article)
            )
            continue
        kind = laws.regulation_kind(name)
        if kind is None:
            continue
        key = laws.regulation_key(name)
        if key not in regulations:
            regulations[key] = Regulation(
                id=stable_id("reg", key),
                name=laws.canonical_name(name),
                kind=kind,
                aliases=[],
                topic=laws.topic_of(name),
                jurisdiction=laws.jurisdiction_of(name),
                key=key,
            )
        reg = regulations[key]
        for alias in [*laws.short_names(name), name]:
            if alias not in reg.aliases and alias != reg.name:
                reg.aliases.append(alias)
        citations.append(Citation(doc.id, key, mention.group(0), "citation", mention.start(), mention.end(), article))
    for alias, key in local_aliases.items():
        if key in regulations and alias not in regulations[key].aliases:
            regulations[key].aliases.append(alias)
    brackets = [(found.start(), found.end()) for found in CITATION_RE.finditer(text)]
    for mention in BARE_LAW_RE.finditer(text):
        if any(start <= mention.start() < end for start, end in brackets):
            continue
        name = mention.group(0)
        key = laws.regulation_key(name)
        if key not in regulations:
            regulations[key] = Regulation(
                id=stable_id("reg", key), name=laws.canonical_name(name), kind="law", aliases=[],
                topic=laws.topic_of(name), jurisdiction=None, key=key,
            )  # fmt: skip
        if name not in regulations[key].aliases:
            regulations[key].aliases.append(name)
        citations.append(
            Citation(doc.id, key, name, "alias", mention.start(), mention.end(), _article_after(text, mention.end()))
        )
    citations.sort(key=lambda c: c.start)
    return citations, list(regulations.values())


def extract_report(doc: Document) -> Extraction:
    """Sections, measures, citations, units and indicators of a report."""
    root = parse_report(doc.text, doc.year)
    sections = extract_sections(doc, root)
    measures = extract_measures(doc, root)
    citations, regulations = extract_citations(doc)
    issuer = issuer_unit(doc.issuer) if doc.issuer else None
    units: dict[str, Unit] = {}
    unit_mentions: list[tuple[str, str | None, int, int]] = []
    if issuer is not None:
        units[issuer.unit.id] = issuer.unit
    mentions = find_units(doc.text, issuer)
    by_measure: dict[str, list[UnitMention]] = {measure.id: [] for measure in measures}
    for mention in mentions:
        owner = next((measure for measure in measures if measure.start <= mention.start < measure.end), None)
        units.setdefault(mention.unit.id, mention.unit)
        unit_mentions.append((mention.unit.id, owner.id if owner else None, mention.start, mention.end))
        if owner is not None:
            by_measure[owner.id].append(mention)
    for measure in measures:
        subjects = responsible_units(doc.text, by_measure[measure.id], measure.start)
        unit_ids = list(dict.fromkeys(subject.unit.id for subject in subjects))
        if not unit_ids and issuer is not None:
            unit_ids = [issuer.unit.id]
        measure.units = unit_ids
    planned_spans = [(s.start, s.end) for s in sections if s.planned and s.level == 1]
    indicators = measure_indicators(doc, measures, planned_spans)
    return Extraction(
        document=doc,
        sections=sections,
        measures=measures,
        regulations=regulations,
        units=list(units.values()),
        indicators=indicators,
        citations=citations,
        unit_mentions=unit_mentions,
    )


def extract_regulation(doc: Document) -> Extraction:
    """A regulation ingested in full: its Regulation node, its divisions (编/章/节) as sections, its Articles."""
    parsed = parse_regulation(doc.text)
    name = laws.strip_version(parsed.title or doc.title)
    key = laws.regulation_key(name)
    kind = laws.regulation_kind(name) or "other"
    reg = Regulation(
        id=stable_id("reg", key),
        name=laws.canonical_name(name) if kind == "law" else name,
        kind=kind,
        aliases=[alias for alias in laws.short_names(name) if alias != name],
        doc_id=doc.id,
        topic=laws.topic_of(name),
        jurisdiction=laws.jurisdiction_of(name),
        key=key,
    )
    if name not in reg.aliases and name != reg.name:
        reg.aliases.append(name)
    articles = [
        Article(
            id=stable_id("article", doc.id, article.label),
            regulation_id=reg.id,
            doc_id=doc.id,
            number=article.number,
            label=article.label,
            chapter=article.chapter,
            text=article.text,
            start=article.start,
            end=article.end,
        )
        for article in parsed.articles
    ]
    sections = [
        Section(
            stable_id("section", doc.id, str(start)),
            doc.id,
            DIVISION_LEVELS[division_kind],
            division_name.split(" ")[0],
            division_name,
            start,
            start,
            None,
            division_name,
        )
        for division_kind, division_name, start in parsed.divisions
    ]
    # Citations inside a regulation (amending decisions in its header, laws it refers to) are not
    # measures' evidence and would flood the registry with decisions; they are left out.
    return Extraction(document=doc, sections=sections, regulations=[reg], articles=articles)


def extract(doc: Document) -> Extraction:
    """Dispatch on the document type."""
    return extract_regulation(doc) if doc.doc_type == "regulation" else extract_report(doc)
