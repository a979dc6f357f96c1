"""Rule-based Measure → Regulation links (explicit citations, aliases and bare law names, topics), each with the
sentence that is its evidence. The semantic links are search's job."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from policykg.graph.model import Article, Citation, Document, Evidence, Link, LinkMethod, Measure, Regulation
from policykg.ingest import laws

SCORES: dict[LinkMethod, float] = {"citation": 1.0, "alias": 0.9, "topic": 0.6}
SENTENCE_STOP = "。；！？\n"
BRACKET_RE = re.compile(r"《[^《》\n]*》")


def sentence_span(text: str, start: int, end: int, lo: int = 0, hi: int | None = None) -> tuple[int, int]:
    """The sentence around ``[start, end)``, kept inside ``[lo, hi)``."""
    hi = len(text) if hi is None else hi
    sentence_start = start
    while sentence_start > lo and text[sentence_start - 1] not in SENTENCE_STOP:
        sentence_start -= 1
    sentence_end = end
    while sentence_end < hi and text[sentence_end] not in SENTENCE_STOP:
        sentence_end += 1
    if sentence_end < hi and text[sentence_end] != "\n":
        sentence_end += 1
    return sentence_start, sentence_end


def _evidence(
    text: str, measure: Measure, method: LinkMethod, mention_start: int, mention_end: int, article: str | None, score: float
) -> Evidence:
    """The sentence of ``measure`` around the mention ``[mention_start, mention_end)``, as evidence."""
    start, end = sentence_span(text, mention_start, mention_end, measure.start, measure.end)
    return Evidence(
        method, text[start:end], start, end, score, article, text[mention_start:mention_end], mention_start, mention_end
    )


class _MeasureAt:
    """The measure of a document at a text position (bisection over the measures' starts)."""

    def __init__(self, measures: list[Measure]) -> None:
        self.by_doc: dict[str, list[Measure]] = {}
        for measure in sorted(measures, key=lambda m: m.start):
            self.by_doc.setdefault(measure.doc_id, []).append(measure)
        self.starts = {doc_id: [m.start for m in doc_measures] for doc_id, doc_measures in self.by_doc.items()}

    def __call__(self, doc_id: str, pos: int) -> Measure | None:
        doc_measures = self.by_doc.get(doc_id, [])
        i = bisect_right(self.starts.get(doc_id, []), pos) - 1
        if i >= 0 and doc_measures[i].start <= pos < doc_measures[i].end:
            return doc_measures[i]
        return None


def rule_links(
    documents: dict[str, Document],
    measures: list[Measure],
    regulations: list[Regulation],
    citations: Iterable[Citation],
    articles: Iterable[Article],
) -> list[Link]:
    """Citation, alias and topic links for every measure of every report."""
    by_key = {reg.key: reg for reg in regulations if reg.key}
    article_ids = {(article.regulation_id, article.label): article.id for article in articles}
    measure_at = _MeasureAt(measures)
    links: list[Link] = []
    linked: set[tuple[str, str]] = set()  # (measure id, regulation id)

    def add(measure: Measure, reg: Regulation, evidence: Evidence) -> None:
        article_id = article_ids.get((reg.id, evidence.article)) if evidence.article else None
        links.append(Link(measure.id, reg.id, evidence, article_id))
        linked.add((measure.id, reg.id))

    def add_mention(measure: Measure, reg: Regulation, method: LinkMethod, start: int, end: int) -> None:
        """A link whose mention is ``[start, end)`` of the measure's text."""
        doc = documents[measure.doc_id]
        evidence = _evidence(doc.text, measure, method, measure.start + start, measure.start + end, None, SCORES[method])
        add(measure, reg, evidence)

    for citation in citations:
        reg = by_key.get(citation.regulation_key)
        doc = documents.get(citation.doc_id)
        measure = measure_at(citation.doc_id, citation.start)
        if reg is None or doc is None or measure is None:
            continue
        evidence = _evidence(
            doc.text, measure, citation.method, citation.start, citation.end, citation.article, SCORES[citation.method]
        )
        add(measure, reg, evidence)

    bare_names = [(reg, name) for reg in regulations for name in laws.bare_mention_names(reg.name)]
    bare_names.sort(key=lambda reg_name: -len(reg_name[1]))
    bare_re = re.compile("|".join(re.escape(name) for _, name in bare_names)) if bare_names else None
    regulation_of = {name: reg for reg, name in bare_names}
    # topics only for regulations held in full and of a legal kind: precision over recall
    topics = [
        (reg, reg.topic)
        for reg in regulations
        if reg.topic and reg.doc_id and reg.kind in ("law", "regulation", "rules")
    ]
    for measure in measures:
        doc = documents.get(measure.doc_id)
        if doc is None or doc.doc_type != "report":
            continue
        body = doc.text[measure.start : measure.end]
        brackets = [(found.start(), found.end()) for found in BRACKET_RE.finditer(body)]

        def in_brackets(start: int, end: int, spans: list[tuple[int, int]] = brackets) -> bool:
            return any(open_at <= start and end <= close_at for open_at, close_at in spans)

        if bare_re is not None:
            for found in bare_re.finditer(body):
                reg = regulation_of[found.group(0)]
                if in_brackets(found.start(), found.end()) or (measure.id, reg.id) in linked:
                    continue
                add_mention(measure, reg, "alias", found.start(), found.end())
        for reg, topic in topics:
            if (measure.id, reg.id) in linked or not topic:
                continue
            if reg.jurisdiction and not (doc.issuer or "").startswith(reg.jurisdiction):
                continue
            for found in re.finditer(re.escape(topic), body):
                if in_brackets(found.start(), found.end()):
                    continue
                add_mention(measure, reg, "topic", found.start(), found.end())
                break
    return links
