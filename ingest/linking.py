"""Rule-based Measure → Regulation links (explicit citations, aliases and bare names, topics and the practice a
legal-affairs reader ties to a law), each with the sentence that is its evidence and the relation the verbs of its
clause give (implements / drafts / revises / studies). The semantic links are search's job."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Evidence,
    Link,
    LinkMethod,
    LinkRelation,
    Measure,
    Regulation,
)
from policykg.ingest import laws

SCORES: dict[LinkMethod, float] = {"citation": 1.0, "alias": 0.9, "topic": 0.6}
SENTENCE_STOP = "。；！？\n"
NAMED_AFTER = re.compile(r"(?:等)?(?:行政)?(?:条例|法律|法规)")  # 保障中小企业款项支付等条例: the subject names the regulation
BROAD_TOPIC_SHARE = 0.03  # a topic found in more of the report measures than this is a catch-all: no topic links
PREAMBLE = re.compile(r"^\s*(?:——|--)")  # the dashed summary lines of a review or of the year's targets


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


def is_preamble(measure: Measure) -> bool:
    """A dashed summary line (——科技创新成果丰硕。…) rather than a measure: no implicit links."""
    return bool(PREAMBLE.match(measure.text))


class _MeasureAt:
    """The innermost measure of a document at a text position (bisection over the measures' starts)."""

    def __init__(self, measures: list[Measure]) -> None:
        self.by_doc: dict[str, list[Measure]] = {}
        for measure in sorted(measures, key=lambda m: (m.start, -m.end)):
            self.by_doc.setdefault(measure.doc_id, []).append(measure)
        self.starts = {doc_id: [m.start for m in doc_measures] for doc_id, doc_measures in self.by_doc.items()}

    def __call__(self, doc_id: str, pos: int) -> Measure | None:
        doc_measures = self.by_doc.get(doc_id, [])
        for i in range(bisect_right(self.starts.get(doc_id, []), pos) - 1, -1, -1):  # items nest in their heading
            if doc_measures[i].start <= pos < doc_measures[i].end:
                return doc_measures[i]
        return None


def _article_for(
    reg: Regulation, articles: list[Article], phrase: str, preferred: tuple[str, ...], clause: str
) -> str | None:
    """The article of ``reg`` a topic link points at: the lexicon's article, else the one article whose text holds
    the phrase and shares most two-character words with the clause (None: no article-level support)."""
    labels = {a.label for a in articles}
    for label in preferred:
        if label in labels:
            return label
    holding = [a for a in articles if phrase in a.text]
    if not holding:
        return None
    pairs = {clause[i : i + 2] for i in range(len(clause) - 1)}

    def closeness(article: Article) -> tuple[float, int]:
        own = {article.text[i : i + 2] for i in range(len(article.text) - 1)}
        return len(own & pairs) / max(len(own), 1) ** 0.5, -article.number

    return max(holding, key=closeness).label


def rule_links(
    documents: dict[str, Document],
    measures: list[Measure],
    regulations: list[Regulation],
    citations: Iterable[Citation],
    articles: Iterable[Article],
) -> list[Link]:
    """Citation, alias (bare names, group references), topic and practice links for every measure of every report."""
    by_key = {reg.key: reg for reg in regulations if reg.key}
    articles = list(articles)
    article_ids = {(article.regulation_id, article.label): article.id for article in articles}
    articles_of: dict[str, list[Article]] = {}
    for article in articles:
        articles_of.setdefault(article.regulation_id, []).append(article)
    measure_at = _MeasureAt(measures)
    links: list[Link] = []
    linked: set[tuple[str, str, str, str | None]] = set()  # (measure id, regulation id, relation, article)
    mentioned: set[tuple[str, str]] = set()  # (measure id, regulation id) named by the text: no topic link needed

    def add(measure: Measure, reg: Regulation, evidence: Evidence, relation: LinkRelation) -> None:
        article_id = article_ids.get((reg.id, evidence.article)) if evidence.article else None
        links.append(Link(measure.id, reg.id, evidence, article_id, relation))
        linked.add((measure.id, reg.id, relation, evidence.article))
        mentioned.add((measure.id, reg.id))

    def add_mention(
        measure: Measure, reg: Regulation, method: LinkMethod, start: int, end: int, article: str | None = None
    ) -> None:
        """A link whose mention is ``[start, end)`` of the measure's text."""
        doc = documents[measure.doc_id]
        at, to = measure.start + start, measure.start + end
        relation = laws.relation_of(doc.text, at, to)
        if method == "topic" and relation != "studies" and not NAMED_AFTER.match(doc.text, to):
            # a subject, not the document: 出台…重大行政决策程序规定 made a rule of its own on the subject
            relation = "implements"
        if (measure.id, reg.id, relation, article) in linked:
            return
        add(measure, reg, _evidence(doc.text, measure, method, at, to, article, SCORES[method]), relation)

    for citation in citations:
        reg = by_key.get(citation.regulation_key)
        doc = documents.get(citation.doc_id)
        measure = measure_at(citation.doc_id, citation.start)
        if reg is None or doc is None or measure is None:
            continue
        evidence = _evidence(
            doc.text, measure, citation.method, citation.start, citation.end, citation.article, SCORES[citation.method]
        )
        add(measure, reg, evidence, laws.relation_of(doc.text, citation.start, citation.end))

    bare_names = [(reg, name) for reg in regulations for name in laws.bare_mention_names(reg.name)]
    bare_names.sort(key=lambda reg_name: -len(reg_name[1]))
    bare_re = re.compile("|".join(re.escape(name) for _, name in bare_names)) if bare_names else None
    regulation_of = {name: reg for reg, name in bare_names}
    # topics only for regulations held in full and of a legal kind, not policy goals: precision over recall
    topics = [
        (reg, reg.topic)
        for reg in regulations
        if reg.topic and reg.doc_id and reg.kind in ("law", "regulation", "local_regulation", "rules")
        and not laws.GOAL_TOPIC.match(reg.topic)
    ]
    reports = [m for m in measures if (doc := documents.get(m.doc_id)) is not None and doc.doc_type == "report"]
    breadth = {reg.id: sum(1 for m in reports if topic in m.text) for reg, topic in topics}
    topics = [(reg, topic) for reg, topic in topics if breadth[reg.id] <= max(3, BROAD_TOPIC_SHARE * len(reports))]
    practice = [
        (pattern, by_key[key], preferred) for pattern, key, preferred in laws.PRACTICE_TOPICS
        if key in by_key and by_key[key].doc_id
    ]  # fmt: skip
    for measure in reports:
        doc = documents[measure.doc_id]
        body = doc.text[measure.start : measure.end]
        brackets = [(found.start(), found.end()) for found in laws.TITLE_RE.finditer(body)]

        def in_brackets(start: int, end: int, spans: list[tuple[int, int]] = brackets) -> bool:
            return any(open_at <= start and end <= close_at for open_at, close_at in spans)

        def local_elsewhere(reg: Regulation, issuer: str = doc.issuer or "") -> bool:
            return bool(reg.jurisdiction) and not issuer.startswith(reg.jurisdiction or "")

        if bare_re is not None:
            for found in bare_re.finditer(body):
                reg = regulation_of[found.group(0)]
                if in_brackets(found.start(), found.end()) or local_elsewhere(reg):
                    continue
                add_mention(measure, reg, "alias", found.start(), found.end())
        if is_preamble(measure):
            continue
        for pattern, reg, preferred in practice:
            if (measure.id, reg.id) in mentioned or local_elsewhere(reg):
                continue
            for found in pattern.finditer(body):
                if in_brackets(found.start(), found.end()) or _negated(body, found.start()):
                    continue
                clause = _clause(body, found.start(), found.end())
                held = {a.label for a in articles_of.get(reg.id, [])}
                # 执法“三项制度” stands on three articles: one link to each
                labels: list[str | None] = [label for label in preferred if label in held]
                labels = labels or [_article_for(reg, articles_of.get(reg.id, []), found.group(0), (), clause)]
                for label in labels:
                    add_mention(measure, reg, "topic", found.start(), found.end(), label)
                break
        for reg, topic in topics:
            if (measure.id, reg.id) in mentioned or not topic or local_elsewhere(reg):
                continue
            for found in re.finditer(re.escape(topic), body):
                not_about = body[found.start() - 1 : found.start()] == "非"  # 取消非行政许可审批 is not about 行政许可
                if in_brackets(found.start(), found.end()) or _negated(body, found.start()) or not_about:
                    continue
                clause = _clause(body, found.start(), found.end())
                label = _article_for(reg, articles_of.get(reg.id, []), topic, (), clause)
                add_mention(measure, reg, "topic", found.start(), found.end(), label)
                break
    return links


def _clause(text: str, start: int, end: int) -> str:
    """The clause (between ，；。) around ``[start, end)``."""
    lo = start
    while lo > 0 and text[lo - 1] not in laws.CLAUSE_STOP:
        lo -= 1
    hi = end
    while hi < len(text) and text[hi] not in laws.CLAUSE_STOP:
        hi += 1
    return text[lo:hi]


def _negated(text: str, pos: int) -> bool:
    """Whether the sentence at ``pos`` says the thing did not happen (我局未发生行政复议、行政诉讼案件)."""
    start, end = sentence_span(text, pos, pos)
    return bool(laws.NEGATED.search(text[start:end]))
