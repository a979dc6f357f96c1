"""The extraction gold set (bench/data/extraction) against the shared corpus, and its scorer on the founding report."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bench.extraction import (
    CATEGORIES,
    check_gold,
    gold_text,
    load_gold,
    match_measures,
    read_document,
    score,
    score_document,
    table,
)
from policykg.api.kb import KnowledgeBase

FOUNDING = "reports/fazhi/tianjin-kjj-fazhi-2023.txt"


@pytest.fixture(scope="module")
def golds() -> list[dict]:
    return load_gold()


def test_every_offset_quotes_the_normalised_text(golds: list[dict], corpus: Path) -> None:
    """Each gold file names a corpus document, its text has not drifted, and every span reads as its quote."""
    assert FOUNDING in {g["document"] for g in golds}
    assert len({g["document"] for g in golds}) >= 4
    for gold in golds:
        assert (corpus / gold["document"]).is_file()
        assert gold["scope"] and gold["measures"] and gold["indicators"], gold["document"]
        assert check_gold(gold, gold_text(gold, corpus)) == [], gold["document"]
        for m in gold["measures"]:
            assert m["units"], (gold["document"], m["id"])  # the issuer at least, flagged default


def test_the_check_catches_a_shifted_offset(golds: list[dict], corpus: Path) -> None:
    gold = copy.deepcopy(next(g for g in golds if g["document"] == FOUNDING))
    text = gold_text(gold, corpus)
    mention = next(m for m in gold["mentions"] if m["quote"] == "《实验动物管理条例》")
    mention["start"] += 1
    mention["end"] += 1
    problems = check_gold(gold, text)
    assert len(problems) == 1 and "《实验动物管理条例》" in problems[0]
    figure = next(i for i in gold["indicators"] if i["quote"] == "2477条")
    figure["start"], figure["end"], figure["quote"] = figure["start"] + 1, figure["end"], "477条"
    assert any("inside a longer number" in p for p in check_gold(gold, text))


def test_founding_gold_holds_the_seven_implicit_links_of_the_issue(golds: list[dict], corpus: Path) -> None:
    gold = next(g for g in golds if g["document"] == FOUNDING)
    text = gold_text(gold, corpus)
    by_id = {m["id"]: text[m["start"]:m["end"]] for m in gold["measures"]}
    required = {(by_id[lk["measure"]][:25], lk["regulation"]) for lk in gold["implicit_links"] if not lk.get("optional")}
    assert any("全面推进政务公开" in m and r == "中华人民共和国政府信息公开条例" for m, r in required)
    assert any("科技创新法治体系建设和宣贯" in m and r == "中华人民共和国科学技术进步法" for m, r in required)
    assert any("科技创新法治体系建设和宣贯" in m and r == "天津市科学技术进步促进条例" for m, r in required)
    assert len(required) >= 7


def test_scorer_on_the_founding_report(golds: list[dict], founding_kb: KnowledgeBase, corpus: Path) -> None:
    """The rule-based extraction of the founding report is scored in every category; dropping a measure costs recall."""
    gold = next(g for g in golds if g["document"] == FOUNDING)
    [result] = score(founding_kb.store, [gold], corpus)
    assert result.skipped is None
    for cat in ("measures", "units", "mentions explicit", "implicit links", "indicators"):
        count = result.counts[cat]
        assert count.gold > 0 and count.recall is not None and 0.0 <= count.recall <= 1.0, cat
        assert count.precision is None or 0.0 <= count.precision <= 1.0, cat
    lines = table([result]).splitlines()
    assert [line.split()[0] for line in lines[2:2 + len(CATEGORIES)]] == [c.split()[0] for c in CATEGORIES]

    extracted = read_document(founding_kb.store, gold)
    assert extracted is not None
    matched = match_measures(gold, extracted.measures)
    assert matched  # the extractor finds some of the founding report's measures
    gone = next(iter(matched.values())).id
    dropped = copy.deepcopy(extracted)
    dropped.measures = [m for m in dropped.measures if m.id != gone]
    before, after = result.counts["measures"], score_document(gold, dropped).counts["measures"]
    assert (after.tp_gold, after.found) == (before.tp_gold - 1, before.found - 1)
