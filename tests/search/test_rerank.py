"""The second stage: coverage of the query's words over the fused top candidates (fast: no model)."""

from __future__ import annotations

import re
from pathlib import Path

from policykg.search.rerank import content_terms, coverage, rerank
from policykg.search.tokenize import Tokenizer
from tests.conftest import FOUNDING


def _paragraphs(corpus: Path) -> list[str]:
    return [line for line in (corpus / FOUNDING).read_text(encoding="utf-8").splitlines() if len(line) > 40]


def test_coverage_counts_the_query_words_a_passage_holds(corpus: Path) -> None:
    terms = content_terms(Tokenizer().tokenize("行政执法人员培训"))
    assert {"行政", "执法", "人员", "培训"} <= set(terms)
    paragraphs = _paragraphs(corpus)
    full = next(p for p in paragraphs if all(t in p for t in terms))
    partial = next(p for p in paragraphs if "执法" in p and "培训" not in p)
    assert coverage(terms, full) == 1.0
    assert 0 < coverage(terms, partial) < 1.0
    # weighted: a rare word counts more than a common one
    idf = {t: 1.0 for t in terms} | {"培训": 10.0}
    assert coverage(terms, partial, idf) < coverage(terms, partial)


def test_rerank_lifts_the_passage_holding_every_word(corpus: Path) -> None:
    terms = content_terms(Tokenizer().tokenize("行政执法人员培训"))
    paragraphs = _paragraphs(corpus)
    full = next(i for i, p in enumerate(paragraphs) if all(t in p for t in terms))
    partial = next(i for i, p in enumerate(paragraphs) if "执法" in p and "人员" not in p and "培训" not in p)
    assert coverage(terms, paragraphs[partial]) <= 0.5
    texts = {full: paragraphs[full], partial: paragraphs[partial]}
    ranked = [(partial, 1.0), (full, 0.95)]
    assert [pid for pid, _ in rerank(ranked, texts, terms, 0.3)] == [full, partial]
    assert rerank(ranked, texts, terms, 0.0) == ranked
    # beyond the re-scored depth the order is kept, below the head
    long = [*ranked, (99, 0.5)]
    out = rerank(long, texts, terms, 0.3, depth=2)
    assert out[-1][0] == 99 and out[-1][1] < out[-2][1]
    assert re.search("培训", paragraphs[full])
