"""Fusion by normalised scores, the year spread, heading-only passages and sentences (fast: no model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from policykg.ingest.passages import is_heading_only, make_passages, sentence_texts
from policykg.ingest.pipeline import prepare
from policykg.search.ranking import Candidates, best_of, diversify_years, fuse_scores, minmax
from tests.conftest import FOUNDING

HEADING = "（四）落实行政执法制度，深入推进严格规范公正文明执法"


def test_minmax_maps_the_candidates_onto_0_1() -> None:
    out = minmax(np.array([3.0, 1.0, 2.0], np.float32))
    assert out.tolist() == [1.0, 0.0, 0.5]
    assert minmax(np.array([0.8, 0.8], np.float32)).tolist() == [1.0, 1.0]


def test_score_fusion_weighs_the_dense_share() -> None:
    dense = Candidates(np.array([1, 2, 3]), np.array([0.9, 0.85, 0.80], np.float32))
    bm25 = Candidates(np.array([3, 4]), np.array([12.0, 2.0], np.float32))
    dense_led = [pid for pid, _ in fuse_scores(dense, bm25, 0.9)]
    bm25_led = [pid for pid, _ in fuse_scores(dense, bm25, 0.1)]
    assert dense_led[0] == 1 and bm25_led[0] == 3
    # 3 is at the bottom of dense but on top of BM25: both rankers count
    assert dict(fuse_scores(dense, bm25, 0.5))[3] == 0.5
    boosted = fuse_scores(dense, bm25, 0.9, boost=1.0, boosted={4})
    assert boosted[0][0] == 4


def test_year_diversity_interleaves_years_but_keeps_the_best_first() -> None:
    ranked = [(1, 1.0), (2, 0.99), (3, 0.98), (4, 0.9)]
    years = {1: 2019, 2: 2019, 3: 2019, 4: 2020}
    out = [pid for pid, _ in diversify_years(ranked, years, 0.2)]
    assert out[0] == 1 and out.index(4) < out.index(3)
    # each keeps its score less its penalty: the scores stay in order, the tail below the head
    scores = [s for _, s in diversify_years([*ranked, (5, 0.85)], {**years, 5: 2019}, 0.2, depth=4)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 1.0
    assert diversify_years(ranked, years, 0.0) == ranked
    # passages without a year (articles) are never pushed down
    assert [p for p, _ in diversify_years(ranked, dict.fromkeys(years), 0.5)] == [1, 2, 3, 4]


def test_heading_only_passages_are_recognised(corpus: Path) -> None:
    text = (corpus / FOUNDING).read_text(encoding="utf-8")
    assert HEADING in text
    assert is_heading_only(HEADING, f"一、主要工作举措及成效 > {HEADING}")
    assert is_heading_only(HEADING)
    assert is_heading_only("2")
    sentence = next(line for line in text.splitlines() if "行政执法" in line and len(line) > 80)
    assert not is_heading_only(sentence, f"一、主要工作举措及成效 > {HEADING}")


def test_report_headings_are_merged_into_their_section(corpus: Path) -> None:
    prepared = prepare(corpus / FOUNDING)
    passages = make_passages(prepared.extraction)
    assert passages
    assert not [p.text for p in passages if is_heading_only(p.text, p.section)]
    merged = next(p for p in passages if p.text.startswith(HEADING))
    assert len(merged.text) > len(HEADING) + 20  # the heading stands with the paragraph after it
    assert merged.text == prepared.document.text[merged.start: merged.end]


def test_articles_are_never_heading_only(corpus: Path) -> None:
    prepared = prepare(corpus / "regulations" / "minfadian.md")
    passages = make_passages(prepared.extraction)
    assert len(passages) > 1000
    assert not [p.article for p in passages if is_heading_only(p.text, p.section)]


def test_sentences_of_long_passages_keep_their_context(corpus: Path) -> None:
    articles = make_passages(prepare(corpus / "regulations" / "minfadian.md").extraction)
    long = next(p for p in articles if p.article == "第一千零六十四条")  # 夫妻共同债务: two paragraphs
    sentences = sentence_texts(long)
    context = long.embed_text[: len(long.embed_text) - len(long.text)]
    assert "民法典" in context and "夫妻关系" in context  # regulation, chapter and section
    assert len(sentences) >= 2 and all(s.startswith(context) for s in sentences)
    assert "".join(s[len(context):] for s in sentences).replace("\n", "") == long.text.replace("\n", "")
    report = make_passages(prepare(corpus / FOUNDING).extraction)
    paragraph = max(report, key=lambda p: len(p.text))
    assert [s for s in sentence_texts(paragraph) if "现场检查40次" in s] or len(sentence_texts(paragraph)) > 2
    assert all(s in paragraph.text for s in sentence_texts(paragraph))  # a report passage has no context prefix
    one = next(p for p in articles if len([c for c in "。；！？" if c in p.text.rstrip("。")]) == 0)
    assert sentence_texts(one) == []  # one sentence: its passage vector is its sentence vector


def test_best_of_keeps_each_passage_once_at_its_higher_score() -> None:
    passages = Candidates(np.array([1, 2, 3]), np.array([0.80, 0.79, 0.70], np.float32))
    sentences = Candidates(np.array([3, 4, 1]), np.array([0.90, 0.75, 0.60], np.float32))
    out = best_of(passages, sentences)
    assert out.ids.tolist() == [3, 1, 2, 4]
    assert np.allclose(out.scores, [0.90, 0.80, 0.79, 0.75])
    assert best_of(passages, Candidates()) is passages
