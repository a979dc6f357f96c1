"""Passages: the searchable chunks of a document (paragraphs of a report, articles of a regulation),
with offsets into its stored text."""

from __future__ import annotations

import itertools
import re

from policykg.graph.model import Extraction, Passage, Regulation

MAX_CHARS = 480
SENTENCE_RE = re.compile(r"[^。！？；\n]*[。！？；]?")
HEADING_RE = re.compile(r"^\s*(?:[一二三四五六七八九十百]+、|[（(][一二三四五六七八九十\d]+[）)]|\d+[.．、]|第[一二三四五六七八九十百千\d]+[章节编部分])")
_CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def is_heading_only(text: str, section: str = "") -> bool:
    """Whether a passage is only a heading (``（四）落实行政执法制度，深入推进严格规范公正文明执法``): the last
    title of its section path, or a short numbered line without a sentence end, or a fragment of fewer
    than four Chinese characters. Such a passage is never a search hit on its own."""
    body = text.strip().rstrip("。")
    if not body:
        return True
    if section and body == section.rsplit(" > ", 1)[-1].strip().rstrip("。"):
        return True
    if sum(1 for _ in itertools.islice(_CJK_RE.finditer(body), 4)) < 4:  # stops at the fourth
        return True
    return len(body) <= 60 and bool(HEADING_RE.match(body)) and not re.search(r"[。！？；]", body)


SENTENCE_MIN_CHARS = 6  # shorter pieces (一是, 其中：) get no vector of their own


def sentence_texts(p: Passage) -> list[str]:
    """What the encoder sees of each sentence of a passage holding two or more: the sentence behind the
    passage's own context (regulation, chapter, article); empty for a passage of one sentence.

    Search scores a passage by its best sentence as well as by its whole text: a long paragraph of a work
    report covers several topics, and its vector is close to none of them (see bench/search_quality.py)."""
    sentences = [s for m in SENTENCE_RE.finditer(p.text) if len(s := m.group(0).strip()) >= SENTENCE_MIN_CHARS]
    if len(sentences) < 2:
        return []
    prefix = p.embed_text[: len(p.embed_text) - len(p.text)] if p.embed_text.endswith(p.text) else ""
    return [prefix + s for s in sentences]


def _split(text: str, start: int, limit: int = MAX_CHARS) -> list[tuple[int, int]]:
    """Cut ``text`` (which starts at ``start``) into spans of at most ``limit`` chars at sentence ends."""
    if len(text) <= limit:
        return [(start, start + len(text))]
    spans: list[tuple[int, int]] = []
    cur_s, cur_e = 0, 0
    for m in SENTENCE_RE.finditer(text):
        if not m.group(0):
            continue
        if m.end() - cur_s > limit and cur_e > cur_s:
            spans.append((start + cur_s, start + cur_e))
            cur_s = m.start()
        cur_e = m.end()
        while cur_e - cur_s > limit:  # one sentence longer than the limit
            spans.append((start + cur_s, start + cur_s + limit))
            cur_s += limit
    if cur_e > cur_s:
        spans.append((start + cur_s, start + cur_e))
    return spans


def report_passages(ex: Extraction) -> list[Passage]:
    """Paragraph-sized passages that never cross a section (a measure is usually one).

    A heading line that holds only its title is joined to the paragraph that follows it, also when that
    paragraph opens a section of its own (then the passage stands in the deeper section); a heading is a
    passage alone only at the end of the text.
    """
    doc = ex.document
    sections = sorted((s for s in ex.sections if s.level < 5), key=lambda s: (s.start, -s.end))
    title_only = {s.start for s in sections if doc.text[s.start: doc.text.find("\n", s.start)].rstrip("。").endswith(s.title)}
    passages: list[Passage] = []
    pending: int | None = None  # start of a title-only heading waiting for its paragraph

    def path_at(pos: int) -> str:
        inner = [s for s in sections if s.start <= pos < max(s.end, s.start + 1)]
        return max(inner, key=lambda s: s.level).path if inner else ""

    def flush() -> None:
        assert pending is not None
        end = pending + len(doc.text[pending:].split("\n", 1)[0])
        passages.append(Passage(0, doc.id, pending, end, doc.text[pending:end], path_at(pending), None, doc.text[pending:end]))

    pos = 0
    for raw in doc.text.split("\n"):
        line_start, line_end = pos, pos + len(raw)
        pos = line_end + 1
        if not raw.strip():
            continue
        head = 0
        if line_start in title_only:
            if pending is None:  # a run of headings waits for the first paragraph after it
                pending = line_start
            continue
        if pending is not None:
            head, pending = line_start - pending, None
        path = path_at(line_start)
        for i, (s, e) in enumerate(_split(raw, line_start)):
            if i == 0 and head:
                s -= head
            body = doc.text[s:e]
            if body.strip():
                passages.append(Passage(0, doc.id, s, e, body, path, None, body))
    if pending is not None:
        flush()
    return passages


def regulation_passages(ex: Extraction) -> list[Passage]:
    """One passage per article, embedded with the regulation's name and chapter."""
    reg: Regulation | None = next((r for r in ex.regulations if r.doc_id == ex.document.id), None)
    name = reg.name if reg else ex.document.title
    out: list[Passage] = []
    for a in ex.articles:
        prefix = f"{name} {a.chapter} ".replace("  ", " ")
        out.append(Passage(0, ex.document.id, a.start, a.end, a.text, a.chapter, a.label, prefix + a.text))
    if not out:  # a regulation without article structure: fall back to paragraphs
        return report_passages(ex)
    return out


def make_passages(ex: Extraction) -> list[Passage]:
    """The passages of a document: its articles if it is a regulation, else its paragraphs."""
    return regulation_passages(ex) if ex.document.doc_type == "regulation" else report_passages(ex)
