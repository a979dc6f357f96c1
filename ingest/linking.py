"""Rule-based Measure → Regulation links: explicit citations, aliases and topics, with evidence."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from policykg.graph.model import Article, Citation, Document, Evidence, Link, Measure, Regulation
from policykg.ingest import laws

SCORES = {"citation": 1.0, "alias": 0.9, "topic": 0.6}
SENTENCE_STOP = "。；！？\n"
BRACKET_RE = re.compile(r"《[^《》\n]*》")


def sentence_span(text: str, start: int, end: int, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
    """The sentence around ``[start, end)``, kept inside ``[lo, hi)``."""
    hi = len(text) if hi is None else hi
    s = start
    while s > lo and text[s - 1] not in SENTENCE_STOP:
        s -= 1
    e = end
    while e < hi and text[e] not in SENTENCE_STOP:
        e += 1
    if e < hi and text[e] != "\n":
        e += 1
    return s, e


def _evidence(
    text: str, measure: Measure, method: str, ms: int, me: int, article: str | None, score: float
) -> Evidence:
    s, e = sentence_span(text, ms, me, measure.start, measure.end)
    return Evidence(method, text[s:e], s, e, score, article, text[ms:me], ms, me)  # type: ignore[arg-type]


class _MeasureFinder:
    def __init__(self, measures: list[Measure]) -> None:
        self.by_doc: dict[str, list[Measure]] = {}
        for m in sorted(measures, key=lambda m: m.start):
            self.by_doc.setdefault(m.doc_id, []).append(m)
        self.starts = {d: [m.start for m in ms] for d, ms in self.by_doc.items()}

    def at(self, doc_id: str, pos: int) -> Measure | None:
        ms = self.by_doc.get(doc_id, [])
        i = bisect_right(self.starts.get(doc_id, []), pos) - 1
        if i >= 0 and ms[i].start <= pos < ms[i].end:
            return ms[i]
        return None


def rule_links(
    documents: dict[str, Document],
    measures: list[Measure],
    regulations: list[Regulation],
    citations: Iterable[Citation],
    articles: Iterable[Article],
) -> list[Link]:
    """Citation, alias and topic links for every measure of every report."""
    by_key = {r.key: r for r in regulations if r.key}
    article_ids = {(a.regulation_id, a.label): a.id for a in articles}
    finder = _MeasureFinder(measures)
    links: list[Link] = []
    seen: set[tuple[str, str]] = set()

    def add(measure: Measure, reg: Regulation, ev: Evidence) -> None:
        links.append(
            Link(measure.id, reg.id, ev, article_ids.get((reg.id, ev.article)) if ev.article else None)
        )
        seen.add((measure.id, reg.id))

    def add_span(measure: Measure, reg: Regulation, method: str, s: int, e: int) -> None:
        """A link whose mention is ``[s, e)`` of the measure's text."""
        doc = documents[measure.doc_id]
        add(measure, reg, _evidence(doc.text, measure, method, measure.start + s, measure.start + e, None, SCORES[method]))

    for c in citations:
        reg = by_key.get(c.regulation_key)
        doc = documents.get(c.doc_id)
        measure = finder.at(c.doc_id, c.start)
        if reg is None or doc is None or measure is None:
            continue
        add(measure, reg, _evidence(doc.text, measure, c.method, c.start, c.end, c.article, SCORES[c.method]))

    bare = [(r, n) for r in regulations for n in laws.bare_mention_names(r.name)]
    bare.sort(key=lambda rn: -len(rn[1]))
    bare_re = re.compile("|".join(re.escape(n) for _, n in bare)) if bare else None
    bare_of = {n: r for r, n in bare}
    # topics only for regulations held in full and of a legal kind: precision over recall
    topics = [
        (r, r.topic) for r in regulations if r.topic and r.doc_id and r.kind in ("law", "regulation", "rules")
    ]
    for measure in measures:
        doc = documents.get(measure.doc_id)
        if doc is None or doc.doc_type != "report":
            continue
        text = doc.text
        body = text[measure.start : measure.end]
        brackets = [(m.start(), m.end()) for m in BRACKET_RE.finditer(body)]

        def in_brackets(s: int, e: int, spans: list[tuple[int, int]] = brackets) -> bool:
            return any(bs <= s and e <= be for bs, be in spans)

        if bare_re is not None:
            for m in bare_re.finditer(body):
                reg = bare_of[m.group(0)]
                if in_brackets(m.start(), m.end()) or (measure.id, reg.id) in seen:
                    continue
                add_span(measure, reg, "alias", m.start(), m.end())
        for reg, topic in topics:
            if (measure.id, reg.id) in seen or not topic:
                continue
            if reg.jurisdiction and not (doc.issuer or "").startswith(reg.jurisdiction):
                continue
            for m in re.finditer(re.escape(topic), body):
                if in_brackets(m.start(), m.end()):
                    continue
                add_span(measure, reg, "topic", m.start(), m.end())
                break
    return links
