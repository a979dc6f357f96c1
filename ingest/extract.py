"""Extraction: measures, citations, units and indicators of a report; articles of a regulation."""

from __future__ import annotations

import re
from collections.abc import Iterable

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Extraction,
    Indicator,
    Measure,
    Regulation,
    Section,
    Unit,
    stable_id,
)
from policykg.ingest import laws
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
from policykg.ingest.units import Issuer, find_units, issuer_unit, responsible_units

CITATION_RE = re.compile(r"《([^《》\n]{2,60})》")
BARE_LAW_RE = re.compile("|".join(sorted(laws.WELL_KNOWN_LAWS, key=len, reverse=True)))
LOCAL_ALIAS_RE = re.compile(r"[（(]以下简称[“\"《]([^”\"》]{1,20})[”\"》][）)]")
ARTICLE_AFTER_RE = re.compile(r"^(?:的)?(第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?)")
FULLWIDTH = str.maketrans("０１２３４５６７８９．％－～", "0123456789.%-~")
NUMBER = r"[0-9０-９]+(?:[.．][0-9０-９]+)?"
INDICATOR_RE = re.compile(
    rf"(?P<value>{NUMBER})(?:\s*(?P<pct1>[%％])?\s*[－\-—~～至到]\s*(?P<high>{NUMBER}))?"
    r"(?P<approx>余|多)?(?P<scale>万|亿)?"
    r"(?P<unit>[%％]|个百分点|件次|人次|万元|亿元|万人|万户|万亩|万吨|万斤|亿斤|公里|平方公里|个|项|次|名|件|人|条|篇|期|家|所|批|场|份|户|元|天|小时|倍|座|套|辆|吨|亩)"
    r"(?P<bound>以上|以下|以内|左右)?"
)
NAME_DELIMS = re.compile(r"[，。；：、“”‘’（）《》()\s,;:]")
NAME_TRIM_RIGHT = re.compile(r"(?:达到|达|为|共|约|超过|突破|累计|增加|减少|下降|增长|提高|是)+$")
NAME_TRIM_LEFT = re.compile(r"^(?:我局|本局|其中|全年|共|累计|今年|全市|全国)+")
TARGET_WORDS = re.compile(r"目标|预期|力争|拟|要|计划|确保")
TITLED_MAX = 30


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


def _blocks_excluded(block: Block) -> bool:
    node: Block | None = block
    while node is not None and node.level > 0:
        if NON_MEASURE_SECTION.search(node.title):
            return True
        node = node.parent
    return False


def _measure(doc: Document, block: Block, title: str, start: int, end: int, reviewed: int | None) -> Measure:
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
    titled = [(p, t) for p in paragraphs if (t := _sentence_title(p.text))]
    return titled if len(titled) >= 2 else []


def extract_measures(doc: Document, root: Block) -> list[Measure]:
    """Titled items: numbered headings without sub-headings, and titled paragraphs."""
    measures: list[Measure] = []
    for block in walk(root):
        if block.level == 0 or _blocks_excluded(block):
            continue
        titled = _titled_paragraphs([p for p in block.paragraphs if p.start >= block.title_end])
        if titled:
            for para, title in titled:
                measures.append(_measure(doc, block, title, para.start, para.end, doc.year))
            continue
        if not block.children and block.paragraphs:
            measures.append(_measure(doc, block, block.title, block.start, block.end, doc.year))
            continue
        if block.children:
            continue
    measures.sort(key=lambda m: m.start)
    return measures


def extract_sections(doc: Document, root: Block) -> list[Section]:
    """Nested sections, including 一是…二是… items inside paragraphs."""
    sections: list[Section] = []
    ids: dict[int, str] = {}
    for block in walk(root):
        if block.level == 0:
            continue
        sid = stable_id("section", doc.id, str(block.start), str(block.level))
        ids[id(block)] = sid
        parent = ids.get(id(block.parent)) if block.parent is not None else None
        sections.append(
            Section(
                sid,
                doc.id,
                block.level,
                block.label,
                block.title,
                block.start,
                block.end,
                parent,
                block.path(),
                block.planned,
            )
        )
        for para in block.paragraphs:
            items = list(ORDINAL_ITEM.finditer(para.text))
            if len(items) < 2:
                continue
            for i, item in enumerate(items):
                s = para.start + item.start(1)
                e = para.start + (items[i + 1].start(1) if i + 1 < len(items) else len(para.text))
                body = doc.text[s:e].rstrip("；;，,。 ")
                title = re.split(r"[，；。]", body[len(item.group(1)) :], maxsplit=1)[0][:40]
                sections.append(
                    Section(
                        stable_id("section", doc.id, str(s), "5"),
                        doc.id,
                        5,
                        item.group(1),
                        title,
                        s,
                        s + len(body),
                        sid,
                        f"{block.path()} > {item.group(1)}{title}",
                        block.planned,
                    )
                )
    return sections


def extract_citations(doc: Document) -> tuple[list[Citation], list[Regulation]]:
    """《…》 mentions that name a regulation, with document-local aliases (以下简称《条例》)."""
    text = doc.text
    local: dict[str, str] = {}  # alias surface → regulation key
    citations: list[Citation] = []
    regs: dict[str, Regulation] = {}
    alias_positions: dict[int, str] = {}
    for m in LOCAL_ALIAS_RE.finditer(text):
        before = text[max(0, m.start() - 80) : m.start()]
        cited = list(CITATION_RE.finditer(before))
        if cited and cited[-1].end() == len(before):
            local[m.group(1)] = laws.regulation_key(cited[-1].group(1))
            alias_positions[m.start()] = m.group(1)
    for m in CITATION_RE.finditer(text):
        name = m.group(1).strip()
        article_m = ARTICLE_AFTER_RE.match(text, m.end())
        article = article_m.group(1) if article_m else None
        # the defining 《条例》 inside （以下简称《条例》） is not a citation of its own
        if any(pos <= m.start() < pos + 20 for pos in alias_positions):
            continue
        if name in local:
            citations.append(Citation(doc.id, local[name], m.group(0), "alias", m.start(), m.end(), article))
            continue
        kind = laws.regulation_kind(name)
        if kind is None:
            continue
        key = laws.regulation_key(name)
        if key not in regs:
            regs[key] = Regulation(
                id=stable_id("reg", key),
                name=laws.canonical_name(name),
                kind=kind,
                aliases=[],
                topic=laws.topic_of(name),
                jurisdiction=laws.jurisdiction_of(name),
                key=key,
            )
        reg = regs[key]
        for alias in [*laws.short_names(name), name]:
            if alias not in reg.aliases and alias != reg.name:
                reg.aliases.append(alias)
        citations.append(Citation(doc.id, key, m.group(0), "citation", m.start(), m.end(), article))
    for alias, key in local.items():
        if key in regs and alias not in regs[key].aliases:
            regs[key].aliases.append(alias)
    brackets = [(m.start(), m.end()) for m in CITATION_RE.finditer(text)]
    for m in BARE_LAW_RE.finditer(text):
        if any(s <= m.start() < e for s, e in brackets):
            continue
        name = m.group(0)
        key = laws.regulation_key(name)
        if key not in regs:
            regs[key] = Regulation(
                id=stable_id("reg", key), name=laws.canonical_name(name), kind="law", aliases=[],
                topic=laws.topic_of(name), jurisdiction=None, key=key,
            )
        if name not in regs[key].aliases:
            regs[key].aliases.append(name)
        article_m = ARTICLE_AFTER_RE.match(text, m.end())
        citations.append(Citation(doc.id, key, name, "alias", m.start(), m.end(), article_m.group(1) if article_m else None))
    citations.sort(key=lambda c: c.start)
    return citations, list(regs.values())


def parse_number(raw: str) -> float:
    return float(raw.translate(FULLWIDTH))


def extract_indicators(
    doc: Document, measures: Iterable[Measure], planned_spans: list[tuple[int, int]]
) -> list[Indicator]:
    """Figures with units inside measures (现场检查40次 → 现场检查, 40, 次)."""
    indicators: list[Indicator] = []
    for measure in measures:
        for m in INDICATOR_RE.finditer(measure.text):
            unit = m.group("unit").translate(FULLWIDTH)
            after = measure.text[m.end() : m.end() + 1]
            if unit in ("个", "条") and after in "月项":  # 3个月, 条款
                continue
            if re.match(r"[年月日号]", after) or re.match(
                r"[0-9０-９]", measure.text[m.start() - 1 : m.start()] or "x"
            ):
                continue
            left = measure.text[max(0, m.start() - 30) : m.start()]
            name = NAME_DELIMS.split(left)[-1]
            name = NAME_TRIM_LEFT.sub("", NAME_TRIM_RIGHT.sub("", name))
            if len(name) < 2:
                continue
            value = parse_number(m.group("value"))
            # values keep the unit as written (1.3万亿斤 → 1.3, 万亿斤)
            unit = (m.group("scale") or "") + unit if m.group("scale") else unit
            high = parse_number(m.group("high")) if m.group("high") else None
            bound = {"以上": "at least", "以下": "at most", "以内": "at most"}.get(m.group("bound") or "")
            start = measure.start + m.start()
            end = measure.start + m.end()
            qs = measure.start + max(0, m.start() - len(name) - 2)
            in_plan = any(s <= start < e for s, e in planned_spans)
            kind = "target" if in_plan or TARGET_WORDS.search(left[-12:]) else "actual"
            indicators.append(
                Indicator(
                    id=stable_id("indicator", doc.id, str(start)),
                    measure_id=measure.id,
                    doc_id=doc.id,
                    name=name,
                    value=value,
                    unit=unit,
                    start=start,
                    end=end,
                    quote=doc.text[qs:end],
                    year=measure.year,
                    kind=kind,
                    low=value,
                    high=high if high is not None else value,
                    bound=bound,
                    approximate=bool(m.group("approx")) or m.group("bound") == "左右",
                )
            )
    return indicators


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
    by_measure: dict[str, list] = {m.id: [] for m in measures}
    for mention in mentions:
        owner = next((m for m in measures if m.start <= mention.start < m.end), None)
        units.setdefault(mention.unit.id, mention.unit)
        unit_mentions.append((mention.unit.id, owner.id if owner else None, mention.start, mention.end))
        if owner is not None:
            by_measure[owner.id].append(mention)
    for measure in measures:
        subjects = responsible_units(doc.text, by_measure[measure.id], measure.start)
        ids = list(dict.fromkeys(s.unit.id for s in subjects))
        if not ids and issuer is not None:
            ids = [issuer.unit.id]
        measure.units = ids
    planned = [(s.start, s.end) for s in sections if s.planned and s.level == 1]
    indicators = extract_indicators(doc, measures, planned)
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


def extract_regulation(doc: Document, issuer: Issuer | None = None) -> Extraction:
    """A regulation ingested in full: its Regulation node, its chapters and its Articles."""
    parsed = parse_regulation(doc.text)
    name = laws.strip_version(parsed.title or doc.title)
    key = laws.regulation_key(name)
    kind = laws.regulation_kind(name) or "other"
    reg = Regulation(
        id=stable_id("reg", key),
        name=laws.canonical_name(name) if kind == "law" else name,
        kind=kind,
        aliases=[a for a in laws.short_names(name) if a != name],
        doc_id=doc.id,
        topic=laws.topic_of(name),
        jurisdiction=laws.jurisdiction_of(name),
        key=key,
    )
    if name not in reg.aliases and name != reg.name:
        reg.aliases.append(name)
    articles = [
        Article(
            id=stable_id("article", doc.id, a.label),
            regulation_id=reg.id,
            doc_id=doc.id,
            number=a.number,
            label=a.label,
            chapter=a.chapter,
            text=a.text,
            start=a.start,
            end=a.end,
        )
        for a in parsed.articles
    ]
    sections = [
        Section(
            stable_id("section", doc.id, str(start)),
            doc.id,
            {"编": 1, "分编": 2, "章": 3, "节": 4}[kind_],
            name_.split(" ")[0],
            name_,
            start,
            start,
            None,
            name_,
        )
        for kind_, name_, start in parsed.divisions
    ]
    # Citations inside a regulation (amending decisions in its header, laws it refers to) are not
    # measures' evidence and would flood the registry with decisions; they are left out.
    return Extraction(document=doc, sections=sections, regulations=[reg], articles=articles)


def extract(doc: Document) -> Extraction:
    """Dispatch on the document type."""
    return extract_regulation(doc) if doc.doc_type == "regulation" else extract_report(doc)
