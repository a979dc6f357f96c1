"""Structure parsing on real texts: report headings, plan sections, regulation articles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policykg.ingest.normalize import normalize_text
from policykg.ingest.structure import cn_to_int, parse_regulation, parse_report, walk

ARTICLE_LINE = re.compile(r"^第[零〇一二三四五六七八九十百千]+条(?:之[一二三四五六七八九十]+)?[\s\u3000]", re.MULTILINE)


@pytest.mark.parametrize(("text", "value"), [("十五", 15), ("一百二十三", 123), ("一千二百六十", 1260), ("十", 10), ("二〇二三", 2023), ("七", 7)])
def test_cn_to_int(text: str, value: int) -> None:
    assert cn_to_int(text) == value


def test_founding_report_headings_nest(corpus: Path) -> None:
    text = normalize_text((corpus / "reports/fazhi/tianjin-kjj-fazhi-2023.txt").read_text(encoding="utf-8"))
    root = parse_report(text, 2023)
    top = [b.label + b.title for b in root.children]
    assert top == [
        "一、主要工作举措及成效",
        "二、主要负责人履行推进法治建设第一责任人职责，加强法治政府建设的有关情况",
        "三、存在的不足和原因",
        "四、2024年推进法治政府建设的主要安排",
    ]
    first = root.children[0]
    assert [c.label for c in first.children] == ["（一）", "（二）", "（三）", "（四）", "（五）", "（六）"]
    assert [c.title for c in first.children[1].children] == ["加快推进简政放权", "着力加强公正监管", "大力优化政务服务", "健全公平竞争审查工作机制"]
    plan = root.children[3]
    assert plan.planned and not root.children[0].planned
    # the half-width (二) heading after the Word residue is found too
    assert [c.label for c in plan.children] == ["（一）", "(二)", "（三）"]
    for block in walk(root):
        if block.level:
            assert text[block.start: block.end].startswith(block.label + block.title)


def test_state_council_plan_starts_at_this_year(corpus: Path) -> None:
    text = normalize_text((corpus / "reports/gov-work/state-council-gwr-2024.txt").read_text(encoding="utf-8"))
    root = parse_report(text, 2023)
    planned = {b.title: b.planned for b in root.children}
    assert planned["2023年工作回顾"] is False
    assert planned["2024年政府工作任务"] is True


def test_every_article_of_every_regulation_is_parsed(corpus: Path) -> None:
    total = 0
    for path in sorted((corpus / "regulations").glob("*.md")):
        raw = path.read_text(encoding="utf-8")
        text = normalize_text(raw)
        parsed = parse_regulation(text)
        expected = ARTICLE_LINE.findall(raw)
        assert len(parsed.articles) == len(expected), path.name
        assert [a.label for a in parsed.articles] == [e.strip() for e in expected], path.name
        for a in parsed.articles:
            assert text[a.start: a.end] == a.text and a.text.startswith(a.label)
        total += len(parsed.articles)
    assert total == 2737


def test_regulation_chapters_and_sections(corpus: Path) -> None:
    text = normalize_text((corpus / "regulations/minfadian.md").read_text(encoding="utf-8"))
    parsed = parse_regulation(text)
    assert parsed.title == "中华人民共和国民法典"
    first = parsed.articles[0]
    assert (first.label, first.number) == ("第一条", 1)
    assert first.chapter.startswith("第一章")
    art = next(a for a in parsed.articles if a.label == "第二十七条")
    assert art.chapter == "第二章 自然人 第二节 监 护" or art.chapter.startswith("第二章 自然人 第二节")
    assert parsed.articles[-1].number == 1260
