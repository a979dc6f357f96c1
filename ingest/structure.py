"""Structure parsing: Chinese numerals, the lines of a text, the heading hierarchy of reports (一、 （一） 1. （1）,
the closing plan marked ``planned``) and the 编/章/节/条 of regulations.

Both parsers work on the stored (normalised) text and return spans into it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUM = "零〇一二三四五六七八九十百千两"


def cn_to_int(text: str) -> int:
    """十五 → 15, 一百二十三 → 123, 二〇二三 → 2023; ASCII digits pass through."""
    if text.isdigit():
        return int(text)
    if all(c in CN_DIGITS for c in text):  # digit by digit: 二〇二三
        return int("".join(str(CN_DIGITS[c]) for c in text))
    total, current = 0, 0
    for ch in text:
        if ch in CN_DIGITS:
            current = CN_DIGITS[ch]
        elif ch in CN_UNITS:
            total += (current or 1) * CN_UNITS[ch]
            current = 0
        else:
            raise ValueError(f"not a Chinese numeral: {text!r}")
    return total + current


@dataclass
class Line:
    """A non-blank line of the text, stripped, with its span."""

    start: int
    end: int
    text: str


def iter_lines(text: str) -> Iterator[Line]:
    """Non-blank lines with their spans (the stored text is already stripped per line)."""
    pos = 0
    for raw in text.split("\n"):
        if raw.strip():
            lead = len(raw) - len(raw.lstrip())
            body = raw.strip()
            yield Line(pos + lead, pos + lead + len(body), body)
        pos += len(raw) + 1


# ---------------------------------------------------------------- reports

HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (1, re.compile(r"^([一二三四五六七八九十]{1,3}、)")),
    (2, re.compile(r"^([（(][一二三四五六七八九十]{1,3}[）)])")),
    (3, re.compile(r"^(\d{1,2}[.．、](?!\d))(?=\S)")),
    (4, re.compile(r"^([（(]\d{1,2}[）)])")),
]
SENTENCE_END = re.compile(r"[。！？]")
ORDINAL_ITEM = re.compile(r"(?:^|(?<=[：:；;。，,]))([一二三四五六七八九十]{1,2}是)")
PLAN_WORDS = re.compile(
    r"今年|明年|下一步|下步|安排|计划|打算|任务|总体要求|总体部署|主要思路|发展目标|工作建议|重点工作"
)
REVIEW_WORDS = re.compile(r"回顾|成就|总结|成效|情况$|不足|问题")
NON_MEASURE_SECTION = re.compile(r"不足|问题|差距|原因|名词解释|^附件|^附录|^注释")
# items inside a paragraph: 一是/二是…, （1）（2）…, ①②…; ``label`` is the marker as written
INLINE_ITEM = re.compile(
    r"(?:^|(?<=[：:；;。，,\n]))\s*(?P<label>(?P<cn>[一二三四五六七八九十]{1,2})是|[（(](?P<num>\d{1,2})[）)]|(?P<circle>[①-⑳]))"
)
# a line opening a glossary or annex: nothing after it is a measure
APPENDIX_LINE = re.compile(
    r"^(?:附件\s*[0-9一二三四五六七八九十]*\s*[：:]?.{0,30}|附[：:]\s*.{0,30}|名词解释\s*[：:]?.{0,10}|注释\s*[：:]?|注[：:]|附录.{0,20})$"
)
SIGN_OFF_LINE = re.compile(
    r"^(?:特此报告[。.]?|以上报告[，,。]?.{0,20}|专此报告[。.]?|[（(]此件.{1,10}[）)]|"
    r"[0-9０-９〇零一二三四五六七八九十]{4}年[0-9０-９〇零一二三四五六七八九十]{1,2}月[0-9０-９〇零一二三四五六七八九十]{1,3}日)$"
)


@dataclass
class Item:
    """An item inside a paragraph (一是…, （1）…, ①…): its marker and span (to the next item or the paragraph's end)."""

    label: str
    start: int
    end: int


def _ordinal(found: re.Match[str]) -> tuple[str, int]:
    """The kind and number of an item marker: ("是", 2) for 二是, ("()", 3) for （3）, ("①", 1) for ①."""
    if found.group("cn"):
        return "是", cn_to_int(found.group("cn"))
    if found.group("num"):
        return "()", int(found.group("num"))
    return "①", ord(found.group("circle")) - ord("①") + 1


def inline_items(text: str, start: int, end: int) -> list[Item]:
    """The numbered items of ``text[start:end]``: a run of two or more markers of one kind counting up from
    one (一是, 二是 …); each ends where the next starts or at the end of its line."""
    markers: list[tuple[str, int, re.Match[str]]] = []
    for found in INLINE_ITEM.finditer(text, start, end):
        kind, number = _ordinal(found)
        markers.append((kind, number, found))
    run: list[re.Match[str]] = []
    kind_of_run = ""
    for kind, number, found in markers:
        if number == 1 and not run:
            run, kind_of_run = [found], kind
        elif run and kind == kind_of_run and number == len(run) + 1:
            run.append(found)
    if len(run) < 2:
        return []
    items: list[Item] = []
    for i, found in enumerate(run):
        item_start = found.start("label")
        line_end = text.find("\n", item_start, end)
        item_end = min(run[i + 1].start("label") if i + 1 < len(run) else end, line_end if line_end >= 0 else end)
        items.append(Item(found.group("label"), item_start, _trim_end(text, item_end)))
    return items


def closing_start(text: str, issuer_names: tuple[str, ...] = ()) -> int:
    """Where the closing matter starts: the sign-off (特此报告, the date line, the issuer's signature) at the end
    and any glossary or annex (名词解释, 附件) — no measure reaches past it; ``len(text)`` when there is none."""
    lines = list(iter_lines(text))
    cut = len(text)
    for line in lines:
        if APPENDIX_LINE.match(line.text) and not SENTENCE_END.search(line.text[:-1]):
            cut = line.start
            break
    for line in reversed([line for line in lines if line.start < cut]):
        signature = len(line.text) <= 30 and not SENTENCE_END.search(line.text) and (
            any(name and name in line.text for name in issuer_names) or re.search(r"(?:局|委|政府|办公室|院|厅)$", line.text)
        )
        if SIGN_OFF_LINE.match(line.text) or signature:
            cut = line.start
            continue
        break
    return cut


@dataclass
class Heading:
    """A heading line: its level (1 一、 … 4 （1）), label, title and where the text after the title starts."""

    level: int
    label: str
    title: str
    line: Line
    body_start: int  # where text after the title starts inside the line (absolute)


@dataclass
class Block:
    """A section of a report: heading, span, child sections and its own paragraphs."""

    level: int
    label: str
    title: str
    start: int
    end: int
    title_end: int
    parent: Block | None = None
    children: list[Block] = field(default_factory=list)
    paragraphs: list[Line] = field(default_factory=list)
    planned: bool = False

    def path(self) -> str:
        """The labels and titles from the top section down to this one: 一、… > （二）…."""
        parts: list[str] = []
        node: Block | None = self
        while node is not None and node.level > 0:
            parts.append(f"{node.label}{node.title}")
            node = node.parent
        return " > ".join(reversed(parts))


def _title_of(rest: str) -> str:
    """The title of a heading line: up to the first full stop (or the whole line)."""
    m = SENTENCE_END.search(rest)
    title = rest[: m.start()] if m else rest
    return title.strip()


def match_heading(line: Line) -> Heading | None:
    """The heading ``line`` opens, if it opens one."""
    for level, pattern in HEADING_PATTERNS:
        m = pattern.match(line.text)
        if m:
            rest = line.text[m.end() :]
            if not rest or not re.match(r"[\u4e00-\u9fff“《\"0-9０-９]", rest):
                continue
            title = _title_of(rest)
            return Heading(level, m.group(1), title, line, line.start + m.end() + len(title))
    return None


def is_plan_title(title: str, reviewed_year: int | None) -> bool:
    """Whether a top-level heading opens the closing plan (2024年…主要安排, 下一步工作计划, 今年工作)."""
    if REVIEW_WORDS.search(title) and not re.search(r"安排|计划|打算", title):
        return False
    years = [int(y) for y in re.findall(r"(20\d{2})年", title)]
    if reviewed_year is not None and years and max(years) > reviewed_year:
        return True
    return bool(PLAN_WORDS.search(title))


def parse_report(text: str, reviewed_year: int | None = None) -> Block:
    """The heading tree of a report. The root (level 0) spans the whole text.

    Sections from the first top-level plan heading onwards are marked ``planned``.
    """
    root = Block(0, "", "", 0, len(text), 0)
    stack: list[Block] = [root]
    in_plan = False
    for line in iter_lines(text):
        heading = match_heading(line)
        if heading is None:
            stack[-1].paragraphs.append(line)
            continue
        while stack[-1].level >= heading.level:
            closed = stack.pop()
            closed.end = line.start
        parent = stack[-1]
        block = Block(
            heading.level, heading.label, heading.title, line.start, len(text), heading.body_start, parent
        )
        if heading.level == 1 and not in_plan and is_plan_title(heading.title, reviewed_year):
            in_plan = True
        block.planned = in_plan
        parent.children.append(block)
        stack.append(block)
        # text after the title on the heading line is the section's first paragraph
        rest_start = heading.body_start
        rest = text[rest_start : line.end]
        skip = len(rest) - len(rest.lstrip("。．. "))
        if rest[skip:].strip():
            block.paragraphs.append(Line(rest_start + skip, line.end, rest[skip:]))
    for block in stack[1:]:
        block.end = _trim_end(text, block.end)
    _fix_ends(root, text)
    return root


def _trim_end(text: str, end: int) -> int:
    while end > 0 and text[end - 1] in "\n \t":
        end -= 1
    return end


def _fix_ends(block: Block, text: str) -> None:
    block.end = _trim_end(text, block.end)
    for child in block.children:
        _fix_ends(child, text)


def walk(block: Block) -> Iterator[Block]:
    """``block`` and every section below it, depth first, in text order."""
    yield block
    for child in block.children:
        yield from walk(child)


# ---------------------------------------------------------------- regulations

ARTICLE_RE = re.compile(rf"^(第([{CN_NUM}]+)条(?:之([{CN_NUM}]+))?)(?:[\s\u3000]+|(?=[\u4e00-\u9fff“（]))")
DIVISION_RE = re.compile(rf"^#*\s*(第[{CN_NUM}]+(编|分编|章|节))[\s\u3000]*(.*)$")
MD_TITLE_RE = re.compile(r"^#\s+(.+)$")
INFO_END = "<!-- INFO END -->"


@dataclass
class ParsedArticle:
    """An article (条) of a regulation, with its span and the chapter (章/节, else 编) it stands in."""

    label: str  # 第十五条 (or 第十五条之一)
    number: int
    chapter: str
    start: int  # start of the 第…条 line
    end: int  # end of its last 款
    text: str


@dataclass
class ParsedRegulation:
    """A regulation's title (from its Markdown heading), articles and divisions."""

    title: str | None
    articles: list[ParsedArticle]
    divisions: list[tuple[str, str, int]]  # (kind 编/章/节, "第一章 总则", start)


def parse_regulation(text: str) -> ParsedRegulation:
    """Articles (条) with their paragraphs (款) and the 编/章/节 they stand in."""
    title: str | None = None
    articles: list[ParsedArticle] = []
    divisions: list[tuple[str, str, int]] = []
    current: dict[str, str] = {"编": "", "分编": "", "章": "", "节": ""}  # the division each kind is in now
    open_article: ParsedArticle | None = None
    body_started = INFO_END not in text
    for line in iter_lines(text):
        if not body_started:
            if title is None and (m := MD_TITLE_RE.match(line.text)):
                title = m.group(1).strip()
            if line.text.startswith(INFO_END):
                body_started = True
            continue
        if line.text.startswith("#") and not DIVISION_RE.match(line.text):
            open_article = None
            if title is None and (m := MD_TITLE_RE.match(line.text)):
                title = m.group(1).strip()
            continue
        if line.text.startswith(INFO_END):
            continue
        division = DIVISION_RE.match(line.text)
        if division and len(division.group(3)) <= 40 and not SENTENCE_END.search(division.group(3)):
            kind = division.group(2)
            name = f"{division.group(1)} {division.group(3).strip()}".strip()
            name = re.sub(r"[\s\u3000]+", " ", name)
            current[kind] = name
            if kind in ("编", "分编"):
                current["章"] = current["节"] = ""
            if kind == "章":
                current["节"] = ""
            divisions.append((kind, name, line.start))
            open_article = None
            continue
        article_head = ARTICLE_RE.match(line.text)
        if article_head:
            number = cn_to_int(article_head.group(2))
            chapter = " ".join(held for kind_of, held in current.items() if held and kind_of in ("章", "节")) or current["编"]
            open_article = ParsedArticle(article_head.group(1), number, chapter, line.start, line.end, "")
            articles.append(open_article)
            continue
        if open_article is not None:
            open_article.end = line.end
    for article in articles:
        article.text = text[article.start : article.end]
    return ParsedRegulation(title, articles, divisions)
