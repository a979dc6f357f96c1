"""Extraction on the founding report: measures, citations, aliases, units, indicators."""

from __future__ import annotations

from pathlib import Path

import pytest

from policykg.graph.model import Extraction
from policykg.ingest import laws
from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import prepare
from tests.conftest import FOUNDING


@pytest.fixture(scope="module")
def founding(corpus: Path) -> Extraction:
    return prepare(corpus / FOUNDING, Metadata(issuer="天津市科学技术局", year=2023)).extraction


def test_metadata_is_inferred_from_the_text(corpus: Path) -> None:
    doc = prepare(corpus / FOUNDING).document
    assert (doc.title, doc.doc_type, doc.year) == ("市科技局2023年法治政府建设情况报告", "report", 2023)
    gwr = prepare(corpus / "reports/gov-work/state-council-gwr-2019.txt").document
    assert (gwr.doc_type, gwr.year, gwr.published, gwr.issuer) == ("report", 2018, "2019", "中华人民共和国国务院")
    reg = prepare(corpus / "regulations/shiyan-dongwu-guanli-tiaoli.md").document
    assert (reg.doc_type, reg.title) == ("regulation", "实验动物管理条例")


def test_measures_and_their_status(founding: Extraction) -> None:
    titles = [m.title for m in founding.measures]
    for t in ("加快推进简政放权", "依法履行行政执法职责", "提升行政执法满意度", "全面推进政务公开"):
        assert t in titles
    text = founding.document.text
    for m in founding.measures:
        assert text[m.start: m.end] == m.text
    planned = [m for m in founding.measures if m.status == "planned"]
    assert [m.title for m in planned] == [
        "持续深入学习宣传贯彻党的二十大精神和习近平法治思想",
        "持续深入推动依法全面履行职能",
        "持续深入推进科技创新法治体系建设和宣贯",
    ]
    assert all(m.year == 2024 for m in planned)
    assert all(m.year == 2023 for m in founding.measures if m.status == "done")
    # the shortcomings of part 三 are not measures
    assert not any("三、存在的不足" in m.section for m in founding.measures)


def test_every_citation_resolves(founding: Extraction) -> None:
    keys = {c.surface: c.regulation_key for c in founding.citations}
    assert keys["《条例》"] == "天津市科学技术进步促进条例"
    assert keys["《科学技术进步法》"] == "科学技术进步法"
    assert keys["《实验动物管理条例》"] == "实验动物管理条例"
    assert keys["《人类遗传资源管理条例》"] == "人类遗传资源管理条例"
    methods = {c.surface: c.method for c in founding.citations}
    assert methods["《条例》"] == "alias" and methods["《实验动物管理条例》"] == "citation"
    names = {r.name: r.kind for r in founding.regulations}
    assert names["中华人民共和国科学技术进步法"] == "law"
    assert names["天津市科学技术进步促进条例"] == "local_regulation"
    assert names["党政主要负责人履行推进法治建设第一责任人职责规定"] == "rules"
    # a compilation is a publication, not a regulation
    assert not any("汇编" in n for n in names)
    for c in founding.citations:
        assert founding.document.text[c.start: c.end] == c.surface


def test_units_and_responsibility(founding: Extraction) -> None:
    units = {u.id: u for u in founding.units}
    issuer = next(u for u in founding.units if u.name == "天津市科学技术局")
    assert "市科技局" in issuer.aliases
    party = next(u for u in founding.units if u.name == "天津市科学技术局党委")
    assert "局党委" in party.aliases
    assert party.parent_id == issuer.id
    by_title = {m.title: [units[u].name for u in m.units] for m in founding.measures}
    assert by_title["健全突发事件应对机制制度"] == ["天津市科学技术局党委"]  # 局党委会每季度专题听取…
    assert by_title["坚持党的领导，深入学习宣传贯彻习近平法治思想"] == ["天津市科学技术局党委"]  # 市科技局党委将…
    assert "天津市科学技术局主要负责人" in by_title["主要负责人履行推进法治建设第一责任人职责，加强法治政府建设的有关情况"]
    assert by_title["加强行政规范性文件管理"] == ["天津市科学技术局"]  # 我局 → the issuer
    assert {"天津市各区", "天津市委全面依法治市委员会"} <= {u.name for u in founding.units}


def test_indicators(founding: Extraction) -> None:
    found = {(i.name, i.value, i.unit, i.approximate) for i in founding.indicators}
    assert ("现场检查", 40, "次", False) in found
    assert ("行政执法人员总数", 18, "名", False) in found
    assert ("各类应急预案", 90, "项", True) in found
    text = founding.document.text
    for i in founding.indicators:
        assert text[i.start: i.end].startswith(str(int(abs(i.value)))) or "．" in text[i.start: i.end]


@pytest.mark.parametrize(
    ("name", "kind", "key", "topic"),
    [
        ("中华人民共和国行政处罚法（2021年修订）", "law", "行政处罚法", "行政处罚"),
        ("宪法", "law", "宪法", None),
        ("实验动物管理条例", "regulation", "实验动物管理条例", "实验动物"),
        ("北京市实验动物管理条例", "local_regulation", "北京市实验动物管理条例", "实验动物"),
        ("国务院关于在线政务服务的若干规定", "rules", "国务院关于在线政务服务的若干规定", "在线政务服务"),
        ("关于党政主要负责人进一步履行推进法治建设第一责任人职责的意见", "policy", None, None),
        ("天津市科技创新政策要点汇编（2023年版）", None, None, None),
        ("科技进步法", "law", "科学技术进步法", "科学技术进步"),
    ],
)
def test_regulation_names(name: str, kind: str | None, key: str | None, topic: str | None) -> None:
    assert laws.regulation_kind(name) == kind
    if key is not None:
        assert laws.regulation_key(name) == key
        assert laws.topic_of(name) == topic
    assert laws.jurisdiction_of("北京市实验动物管理条例") == "北京市"
