"""Extraction of one document: a report's sections, measures, citations, units and (through indicators.py) its
indicators; a regulation's Regulation node, divisions and articles. `extract` dispatches on the type."""

from __future__ import annotations

import re

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Extraction,
    LinkRelation,
    Measure,
    Regulation,
    RegulationKind,
    Section,
    Unit,
    stable_id,
)
from policykg.ingest import laws
from policykg.ingest.indicators import document_indicators, measure_indicators
from policykg.ingest.structure import (
    NON_MEASURE_SECTION,
    ORDINAL_ITEM,
    SENTENCE_END,
    Block,
    Line,
    closing_start,
    inline_items,
    parse_regulation,
    parse_report,
    walk,
)
from policykg.ingest.units import UnitMention, find_units, issuer_unit, responsible_units

CITATION_RE = re.compile(r"《([^《》\n]{2,60})》")
BARE_LAW_RE = re.compile("|".join(sorted(laws.WELL_KNOWN_LAWS, key=len, reverse=True)))
LOCAL_ALIAS_RE = re.compile(r"[（(]以下简称[“\"《]([^”\"》]{1,20})[”\"》][）)]")
BODY_BEFORE_RE = re.compile(r"(党的[\u4e00-\u9fff]{2,12}?全会|中共中央|国务院|全国人大常委会|[市省区]委|[市省区]政府)$")
BARE_KINDS = ("决定", "决议", "意见", "纲要", "规划", "方案")
ARTICLE_AFTER_RE = re.compile(r"^(?:的)?(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)")
TITLED_MAX = 30
# a paragraph on shortcomings (同时，我们也清醒认识到…还存在…问题): no measure, nor items of one
SHORTCOMINGS = re.compile(r"^.{0,30}(?:清醒地?(?:看到|认识到)|存在的(?:问题|不足)|不足和问题|问题和不足)")
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


def _measure(
    doc: Document, block: Block, title: str, start: int, end: int, reviewed: int | None,
    parent: Measure | None = None, item: bool = False,
) -> Measure:
    """A measure of ``block``; a planned one is for the year after ``reviewed`` (the year the report reviews);
    a child of ``parent`` when given (``item``: an inline 一是…, whose id differs from a measure starting there)."""
    return Measure(
        id=stable_id("measure", doc.id, str(start), *(["item"] if item else [])),
        parent_id=parent.id if parent else None,
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


def _item_title(body: str) -> str:
    """An item's title: its first clause without the marker (一是精准施策支持企业发展。… → 精准施策支持企业发展)."""
    return re.split(r"[，；。：]", body, maxsplit=1)[0][:40]


def _items(doc: Document, block: Block, measure: Measure) -> list[Measure]:
    """The 一是/二是…, （1）（2）…, ①②… items inside ``measure``: measures of their own, its children."""
    items: list[Measure] = []
    found = inline_items(doc.text, measure.start, measure.end)
    if found and SHORTCOMINGS.match(doc.text, doc.text.rfind("\n", 0, found[0].start) + 1):
        return []
    for item in found:
        end = item.end
        while end > item.start and doc.text[end - 1] in "；;，, \n":
            end -= 1
        title = _item_title(doc.text[item.start + len(item.label) : end])
        if title:
            items.append(_measure(doc, block, title, item.start, end, doc.year, measure, item=True))
    return items


def extract_measures(doc: Document, root: Block) -> list[Measure]:
    """Titled items: numbered headings without sub-headings, and titled paragraphs; the 一是/（1）/① items inside
    them as their children. Nothing in the closing matter (sign-off, glossary, annex) is a measure."""
    measures: list[Measure] = []
    cut = closing_start(doc.text, tuple(filter(None, [doc.issuer])))

    def add(block: Block, title: str, start: int, end: int) -> None:
        end = min(end, cut)
        while end > start and doc.text[end - 1] in " \t\n":
            end -= 1
        if start >= cut or end <= start:
            return
        measure = _measure(doc, block, title, start, end, doc.year)
        measures.append(measure)
        measures.extend(_items(doc, block, measure))

    for block in walk(root):
        if block.level == 0 or block.start >= cut or _in_non_measure_section(block):
            continue
        shortcomings = [para.start for para in block.paragraphs if SHORTCOMINGS.match(para.text)]
        # a section's own text ends where its paragraph on shortcomings starts
        block_cut = min([*shortcomings, cut])
        # ——… paragraphs sum up the year or list its targets: figures of the document, no measures
        titled = _titled_paragraphs([
            p for p in block.paragraphs
            if block.title_end <= p.start < cut and p.start not in shortcomings and not p.text.startswith("—")
        ])
        # a glossary's 1. 2. entries after the cut are no sub-headings of the last section
        leaf = not any(child.start < cut for child in block.children)
        if titled:
            for para, title in titled:
                add(block, title, para.start, para.end)
            continue
        if leaf and block.paragraphs and block_cut > block.title_end:
            add(block, block.title, block.start, min(block.end, block_cut))
    measures.sort(key=lambda m: (m.start, -m.end))
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
    """《…》 mentions that name a regulation, with document-local aliases (以下简称《条例》); bare mentions of
    well-known laws (宪法, 行政处罚法 …) and of regulations named by their form (法律援助条例, …管理办法); group
    references (科技进步“一法一条例”) resolved to the document's regulations on that subject; the regulations they
    name, with the aliases seen. A document without a place in its name is placed in the issuer's jurisdiction where
    the issuer made it or (a district's) rules and policy (:func:`laws.local_identity`); drafts are kind ``draft``."""
    text = doc.text
    local_aliases: dict[str, str] = {}  # alias surface → regulation key
    citations: list[Citation] = []
    regulations: dict[str, Regulation] = {}  # key → regulation
    alias_positions: set[int] = set()  # where a （以下简称《…》） starts

    # how the document treats each name: one made or changed by the issuer is its own wherever it is named
    made: dict[str, tuple[LinkRelation, str | None]] = {}
    spans = [(m.group(1), m.start(), m.end()) for m in CITATION_RE.finditer(text)]
    spans += [(bare.name, bare.start, bare.end) for bare in laws.bare_regulation_names(text)]
    for surface, start, end in spans:
        name = laws.strip_version(surface.strip())
        relation, actor = laws.relation_of(text, start, end), laws.clause_actor(text, start)
        if name not in made or (relation in ("drafts", "revises") and made[name][0] not in ("drafts", "revises")):
            made[name] = (relation, actor)

    def named(name: str, kind: RegulationKind, start: int, end: int) -> str:
        """The key of the regulation ``name`` (placed in the issuer's jurisdiction if it is the issuer's own)."""
        plain = laws.strip_version(name)
        relation, actor = made.get(plain) or (laws.relation_of(text, start, end), laws.clause_actor(text, start))
        full, jurisdiction = laws.local_identity(plain, kind, doc.issuer, relation, actor)
        if jurisdiction and kind == "regulation":
            kind = "local_regulation"
        key = laws.regulation_key(full)
        if key not in regulations:
            regulations[key] = Regulation(
                id=stable_id("reg", key),
                name=laws.canonical_name(full),
                kind=kind,
                aliases=[],
                topic=laws.topic_of(full),
                jurisdiction=jurisdiction,
                key=key,
            )
        reg = regulations[key]
        for alias in [*laws.short_names(name), name]:
            if alias not in reg.aliases and alias != reg.name:
                reg.aliases.append(alias)
        return key

    for definition in LOCAL_ALIAS_RE.finditer(text):
        before = text[max(0, definition.start() - 80) : definition.start()]
        cited = list(CITATION_RE.finditer(before))
        if cited and cited[-1].end() == len(before):
            start = definition.start() - len(cited[-1].group(0))
            cited_kind = laws.regulation_kind(cited[-1].group(1)) or "other"
            full, _ = laws.local_identity(
                laws.strip_version(cited[-1].group(1)), cited_kind, doc.issuer,
                laws.relation_of(text, start, definition.start()), laws.clause_actor(text, start),
            )  # fmt: skip
            local_aliases[definition.group(1)] = laws.regulation_key(full)
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
        if kind is None:  # 党的二十届三中全会《决定》: a bare kind named by the body that adopted it
            body = BODY_BEFORE_RE.search(text, max(0, mention.start() - 24), mention.start())
            if body is None or name not in BARE_KINDS:
                continue
            name = body.group(1) + name
            kind = laws.regulation_kind(name) or "policy"
        key = named(name, kind, mention.start(), mention.end())
        citations.append(Citation(doc.id, key, mention.group(0), "citation", mention.start(), mention.end(), article))
    for alias, key in local_aliases.items():
        if key in regulations and alias not in regulations[key].aliases:
            regulations[key].aliases.append(alias)
    brackets = [(found.start(), found.end()) for found in CITATION_RE.finditer(text)]
    taken: list[tuple[int, int]] = []  # spans of bare mentions
    for mention in BARE_LAW_RE.finditer(text):
        if any(start <= mention.start() < end for start, end in brackets):
            continue
        name = mention.group(0)
        key = named(name, "law", mention.start(), mention.end())
        taken.append((mention.start(), mention.end()))
        citations.append(
            Citation(doc.id, key, name, "alias", mention.start(), mention.end(), _article_after(text, mention.end()))
        )
    for bare in laws.bare_regulation_names(text):
        if any(start < bare.end and bare.start < end for start, end in taken):
            continue
        kind = laws.regulation_kind(bare.name) or "other"
        relation = laws.relation_of(text, bare.start, bare.end)
        if bare.draft or (relation == "drafts" and kind in ("law", "regulation")):
            kind = "draft"  # legislation being drafted: 积极做好促进天开高教科创园发展条例立法工作
        key = named(bare.name, kind, bare.start, bare.end)
        taken.append((bare.start, bare.end))
        citations.append(
            Citation(doc.id, key, bare.name, "alias", bare.start, bare.end, _article_after(text, bare.end))
        )
    for group in laws.group_references(text):
        members = _group_members(group, list(regulations.values()), laws.issuer_jurisdiction(doc.issuer))
        surface = text[group.start : group.end]
        for reg in members:
            citations.append(Citation(doc.id, reg.key, surface, "alias", group.start, group.end, None))
    citations.sort(key=lambda c: c.start)
    return citations, list(regulations.values())


def _group_members(group: laws.GroupReference, known: list[Regulation], place: str | None) -> list[Regulation]:
    """The laws and regulations a group reference (科技进步“一法一条例”) counts, among those the document names:
    on its subject, the national laws first, the regulations of the issuer's jurisdiction first; none if too few."""
    on_subject = [reg for reg in known if laws.subject_matches(group.subject, reg.key)]
    found_laws = [reg for reg in on_subject if reg.kind == "law" and not reg.jurisdiction]
    found_regs = sorted(
        (reg for reg in on_subject if reg.kind in ("regulation", "local_regulation")),
        key=lambda reg: (reg.jurisdiction != place, reg.key),
    )
    if len(found_laws) < group.laws or len(found_regs) < group.regulations:
        return []
    return found_laws[: group.laws] + found_regs[: group.regulations]


def _innermost(measures: list[Measure], pos: int) -> Measure | None:
    """The finest measure holding ``pos`` (an item rather than the heading it stands in)."""
    holding = [m for m in measures if m.start <= pos < m.end]
    return min(holding, key=lambda m: m.end - m.start) if holding else None


def _assign_units(
    text: str, measures: list[Measure], mentions: list[UnitMention], issuer: Unit | None, outer: set[str]
) -> None:
    """Each measure's responsible units: those its own text (not its items') names as doing the work
    (``unit_source`` "text"); for an item naming none, those its parent names before its first item ("parent");
    else the issuer ("issuer")."""
    by_id = {m.id: m for m in measures}
    lead_in: dict[str, list[str]] = {}  # parent id → the units its text names before its first item
    for measure in measures:
        items = [(m.start, m.end) for m in measures if m.parent_id == measure.id]
        own = [
            m for m in mentions
            if measure.start <= m.start < measure.end and not any(s <= m.start < e for s, e in items)
        ]
        subjects = responsible_units(text, own, measure.start, outer)
        unit_ids = list(dict.fromkeys(subject.unit.id for subject in subjects))
        if items:
            first_item = min(s for s, _ in items)
            lead_in[measure.id] = list(dict.fromkeys(s.unit.id for s in subjects if s.start < first_item))
        source = "text"
        parent = by_id.get(measure.parent_id or "")
        if not unit_ids and parent is not None and lead_in.get(parent.id):
            unit_ids, source = lead_in[parent.id], "parent"
        if not unit_ids and issuer is not None:
            unit_ids, source = [issuer.id], "issuer"
        measure.units = unit_ids
        measure.unit_source = "issuer" if source == "issuer" else "parent" if source == "parent" else "text"


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
    for mention in mentions:
        owner = _innermost(measures, mention.start)
        units.setdefault(mention.unit.id, mention.unit)
        unit_mentions.append((mention.unit.id, owner.id if owner else None, mention.start, mention.end))
    _assign_units(doc.text, measures, mentions, issuer.unit if issuer else None, issuer.outer if issuer else set())
    if issuer is not None:  # the governments (and their parents) the units found hang under
        pending = [unit.parent_id for unit in units.values()]
        while pending:
            parent_id = pending.pop()
            if parent_id and parent_id not in units and parent_id in issuer.units:
                units[parent_id] = issuer.units[parent_id]
                pending.append(units[parent_id].parent_id)
    planned_spans = [(s.start, s.end) for s in sections if s.planned and s.level == 1]
    # figures in measures (on the finest one), then those outside every measure (the year's summary, its targets)
    indicators = measure_indicators(doc, measures, planned_spans) + document_indicators(doc, measures, planned_spans)
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
