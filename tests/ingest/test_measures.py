"""Measures at the granularity users mean: 一是/二是 items as children of their measure, with their own span,
units and status; nothing of the closing matter (sign-off, glossary, annex) in a measure."""

from __future__ import annotations

import re
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest

from policykg.graph.model import Extraction, Measure
from policykg.graph.store import SQLiteStore
from policykg.ingest.extract import extract
from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import prepare
from policykg.ingest.structure import inline_items
from tests.conftest import FOUNDING

SHENZHEN_2019 = "reports/gov-work/shenzhen-gwr-2019.txt"


@pytest.fixture(scope="module")
def shenzhen(corpus: Path) -> Extraction:
    return prepare(corpus / SHENZHEN_2019, Metadata(issuer="深圳市人民政府", year=2018)).extraction


@pytest.fixture(scope="module")
def founding(corpus: Path) -> Extraction:
    return prepare(corpus / FOUNDING, Metadata(issuer="天津市科学技术局", year=2023)).extraction


def _children(extraction: Extraction, parent: Measure) -> list[Measure]:
    return [m for m in extraction.measures if m.parent_id == parent.id]


def test_items_become_child_measures(shenzhen: Extraction) -> None:
    text = shenzhen.document.text
    parent = next(m for m in shenzhen.measures if m.title == "推动实体经济稳健发展")
    items = _children(shenzhen, parent)
    assert [m.title for m in items] == ["精准施策支持企业发展", "着力提升先进制造业竞争力", "全力拓展产业发展空间", "促进投资消费出口均衡发展"]
    for label, item in zip(["一是", "二是", "三是", "四是"], items, strict=True):
        assert text[item.start : item.end] == item.text and item.text.startswith(label)
        assert parent.start <= item.start < item.end <= parent.end
        assert (item.status, item.year, item.section) == (parent.status, parent.year, parent.section)
    # each ends where the next begins: no item holds another's text
    assert all(a.end <= b.start for a, b in pairwise(items))


def test_every_item_of_a_measure_is_found(shenzhen: Extraction) -> None:
    """Every 一是/二是… marker after a clause end inside a top-level measure opens one of its items."""
    text = shenzhen.document.text
    starts = {m.start for m in shenzhen.measures if m.parent_id}
    top = [m for m in shenzhen.measures if m.parent_id is None]
    markers = [
        m.start + found.start(1)
        for m in top
        for found in re.finditer(r"(?:^|[。；：])([一二三四五六七八九十]是)", m.text)
    ]
    assert len(markers) >= 60
    assert set(markers) <= starts
    planned = [m for m in shenzhen.measures if m.parent_id and m.status == "planned"]
    assert planned and all(m.year == 2019 for m in planned)
    assert len(starts) == len(markers)
    assert all(text[s : s + 2].endswith("是") for s in starts)


def test_items_of_the_shortcomings_are_no_measures(founding: Extraction) -> None:
    # the founding report's 一是/二是 stand only in 三、存在的不足和原因: no items, no new measures
    assert not any(m.parent_id for m in founding.measures)
    assert len(founding.measures) == 21


def test_item_markers_of_other_kinds() -> None:
    text = "主要做法：（1）健全制度；（2）强化培训。另有：①编制清单；②公开清单。"
    assert [i.label for i in inline_items(text, 0, text.index("另有"))] == ["（1）", "（2）"]
    assert [i.label for i in inline_items(text, text.index("另有"), len(text))] == ["①", "②"]
    # a lone 一是 or a run not counting from one is no list of items
    assert inline_items("重点是：二是三是", 0, 8) == []


def test_item_units_are_its_own_or_its_parents(shenzhen: Extraction) -> None:
    issuer = next(u for u in shenzhen.units if u.name == "深圳市人民政府")
    for item in (m for m in shenzhen.measures if m.parent_id):
        assert item.units
        assert item.unit_source in ("text", "parent", "issuer")
        if item.unit_source == "issuer":
            assert item.units == [issuer.id]


def test_closing_matter_belongs_to_no_measure(corpus: Path, founding: Extraction) -> None:
    """The founding report with a sign-off and then a glossary appended: the measures stay as they were."""
    doc = founding.document
    signed = replace(doc, text=doc.text.rstrip() + "\n\n特此报告。\n\n天津市科学技术局\n2024年1月15日\n")
    extraction = extract(signed)
    last = max(extraction.measures, key=lambda m: m.end)
    assert "特此报告" not in last.text and last.end == max(m.end for m in founding.measures)
    signature = signed.text.rindex("天津市科学技术局")
    assert all(measure_id is None for _, measure_id, start, _ in extraction.unit_mentions if start >= signature)
    glossary = replace(doc, text=doc.text.rstrip() + "\n名词解释\n1.双随机、一公开：随机抽取检查对象，随机选派执法检查人员，抽查情况及查处结果及时向社会公开。\n2.一规划两纲要：法治中国建设规划和两个实施纲要。\n")
    extraction = extract(glossary)
    assert [m.title for m in extraction.measures] == [m.title for m in founding.measures]


def test_items_stored_and_read_back(tmp_path: Path, shenzhen: Extraction) -> None:
    store = SQLiteStore(tmp_path / "policykg.sqlite")
    store.write_document(shenzhen, None, [], fingerprint="fp")
    measures = store.measures(shenzhen.document.id)
    assert [(m.id, m.parent_id, m.unit_source, m.units) for m in measures] == [
        (m.id, m.parent_id, m.unit_source, m.units) for m in shenzhen.measures
    ]


def test_summary_and_shortcomings_paragraphs_are_no_measures(corpus: Path) -> None:
    """State Council 2024: the ——… paragraphs sum up the year (their figures go to the document) and the
    在肯定成绩的同时，我们也清醒看到… paragraph is on shortcomings; neither is a measure."""
    extraction = prepare(
        corpus / "reports/gov-work/state-council-gwr-2024.txt", Metadata(issuer="中华人民共和国国务院", year=2023)
    ).extraction
    text = extraction.document.text
    summary = [line for line in text.split("\n") if line.strip().startswith("——经济总体回升向好")]
    assert summary
    start = text.index(summary[0].strip())
    assert not any(m.start <= start < m.end for m in extraction.measures)
    assert not any("清醒看到" in m.text[:40] for m in extraction.measures)
    assert "一是加大宏观调控力度" in {m.title[:10] for m in extraction.measures}
    # the summary's figures are kept, on the document
    assert any(i.measure_id is None and start <= i.start < start + len(summary[0]) for i in extraction.indicators)
