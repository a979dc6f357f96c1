"""Regulation identity (kind, jurisdiction, one key across spellings), bare names, group references and the
relation a measure has to a regulation it names, on real sentences of the shared corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from policykg.graph.model import Document
from policykg.ingest import laws
from policykg.ingest.extract import extract_citations
from tests.conftest import FOUNDING

SHENZHEN_2024 = "reports/gov-work/shenzhen-gwr-2024.txt"
SHENZHEN_2023 = "reports/gov-work/shenzhen-gwr-2023.txt"
COUNCIL_2016 = "reports/gov-work/state-council-gwr-2016.txt"
COUNCIL_2021 = "reports/gov-work/state-council-gwr-2021.txt"
COUNCIL_2025 = "reports/gov-work/state-council-gwr-2025.txt"


def _text(corpus: Path, name: str) -> str:
    return (corpus / name).read_text(encoding="utf-8")


def _at(text: str, before: str, name: str) -> tuple[int, int]:
    """The span of ``name`` where it follows ``before`` in ``text``."""
    at = text.index(before + name) + len(before)
    return at, at + len(name)


@pytest.mark.parametrize(
    ("name", "kind", "jurisdiction"),
    [
        ("中华人民共和国行政处罚法（2021年修订）", "law", None),
        ("天津市科学技术进步促进条例", "local_regulation", "天津市"),
        ("北京市实验动物管理条例", "local_regulation", "北京市"),
        ("实验动物管理条例", "regulation", None),
        ("重大行政决策程序暂行条例", "regulation", None),
        ("天津市科技计划项目验收管理办法", "rules", "天津市"),  # 办法 ends in 法 but is no law
        ("深圳市南山区行政执法暂行办法", "rules", "深圳市南山区"),
        ("深圳都市圈发展规划", "policy", None),  # 都市圈 is no 市
        ("优化营商环境条例（草案）", "draft", None),
        ("方法", None, None),
        ("执法", None, None),
        ("天津市科技创新政策要点汇编（2023年版）", None, "天津市"),  # a publication, not a regulation
    ],
)
def test_kind_and_jurisdiction(name: str, kind: str | None, jurisdiction: str | None) -> None:
    assert laws.regulation_kind(name) == kind
    assert laws.jurisdiction_of(name) == jurisdiction


def test_one_key_across_spellings() -> None:
    forms = ["《中华人民共和国科学技术进步法》", "科学技术进步法", "科技进步法", "“科学技术进步法”", "中华人民共和国科学技术进步法（2021年修订）"]
    assert {laws.regulation_key(form) for form in forms} == {"科学技术进步法"}
    assert laws.regulation_key("重大行政决策程序暂行条例") == laws.regulation_key("重大行政决策程序条例")


def test_issuer_places_its_own_documents() -> None:
    assert laws.issuer_jurisdiction("深圳市南山区司法局") == "深圳市南山区"
    assert laws.issuer_jurisdiction("天津市科学技术局") == "天津市"
    assert laws.issuer_jurisdiction("中华人民共和国国务院") is None
    # a district's 《…暂行办法》 named without a place is the district's, never a national law
    name, place = laws.local_identity("行政执法暂行办法", "rules", "深圳市南山区司法局", "implements")
    assert (name, place) == ("深圳市南山区行政执法暂行办法", "深圳市南山区")
    assert laws.canonical_name(name) == name and laws.regulation_kind(name) == "rules"
    # what a city drafts is its own; a central party rule it implements stays as named
    assert laws.local_identity("促进天开高教科创园发展条例", "regulation", "天津市科学技术局", "drafts")[1] == "天津市"
    assert laws.local_identity(
        "党政主要负责人履行推进法治建设第一责任人职责规定", "rules", "深圳市南山区司法局", "implements"
    ) == ("党政主要负责人履行推进法治建设第一责任人职责规定", None)
    # a city's document named by its bare place keeps its name
    assert laws.local_identity("深圳都市圈发展规划", "policy", "深圳市人民政府", "implements") == ("深圳都市圈发展规划", "深圳市")


def test_relation_from_the_verbs_of_the_clause(corpus: Path) -> None:
    founding = _text(corpus, FOUNDING)
    # 执法人员就《科学技术进步法》《人类遗传资源管理条例》《实验动物管理条例》等法律法规开展普法宣传
    for name in ("《科学技术进步法》", "《人类遗传资源管理条例》", "《实验动物管理条例》"):
        at = founding.index(name)
        assert laws.relation_of(founding, at, at + len(name)) == "studies", name
    # 修改后的《天津市科学技术进步促进条例》…自2023年1月1日起施行; 积极开展《条例》宣贯解读工作
    assert laws.relation_of(founding, *_at(founding, "修改后的", "《天津市科学技术进步促进条例》")) == "revises"
    assert laws.relation_of(founding, *_at(founding, "积极开展", "《条例》")) == "studies"
    # 认真落实中办、国办印发《党政主要负责人…规定》: 落实 governs, 印发 is someone else's act
    assert laws.relation_of(founding, *_at(founding, "国办印发", "《党政主要负责人履行推进法治建设第一责任人职责规定》")) == "implements"
    # 积极做好促进天开高教科创园发展条例立法工作
    assert laws.relation_of(founding, *_at(founding, "积极做好", "促进天开高教科创园发展条例")) == "drafts"
    # 加强习近平法治思想和宪法、民法典等法律法规的学习宣传
    assert laws.relation_of(founding, *_at(founding, "习近平法治思想和", "宪法")) == "studies"
    council = _text(corpus, COUNCIL_2021)
    assert laws.relation_of(council, *_at(council, "实施", "优化营商环境条例")) == "implements"
    assert laws.relation_of(council, *_at(council, "研究制定", "生态保护补偿条例")) == "drafts"
    council = _text(corpus, COUNCIL_2016)
    # 新修订的环境保护法必须严格执行: the revised law is carried out
    assert laws.relation_of(council, *_at(council, "新修订的", "环境保护法")) == "implements"


def test_bare_names_by_form(corpus: Path) -> None:
    founding = _text(corpus, FOUNDING)
    names = {bare.name for bare in laws.bare_regulation_names(founding)}
    assert names == {"促进天开高教科创园发展条例", "天津市科技计划项目验收管理办法"}
    shenzhen = {bare.name for bare in laws.bare_regulation_names(_text(corpus, SHENZHEN_2024))}
    assert {"低空经济产业促进条例", "居民生活用水电燃气价格管理若干规定"} <= shenzhen  # 全国首部 is not in the name
    council = {bare.name for bare in laws.bare_regulation_names(_text(corpus, COUNCIL_2025))}
    assert {"公平竞争审查条例", "民营经济促进法"} <= council
    # ordinary words are no names: 方法, 执法, 依法, 有关规定, and nothing inside a 《》 title
    for text in (founding, _text(corpus, SHENZHEN_2023)):
        for bare in laws.bare_regulation_names(text):
            assert laws.regulation_kind(bare.name) is not None
            assert not bare.name.endswith(("方法", "执法", "依法", "立法")) and not bare.name.startswith(("有关", "相关"))
            assert text[bare.start: bare.end] == bare.name
            assert "《" not in text[max(0, bare.start - 1): bare.start]


def test_group_reference_resolves_to_its_members(corpus: Path) -> None:
    text = _text(corpus, FOUNDING)
    (group,) = laws.group_references(text)
    assert (group.subject, group.laws, group.regulations) == ("科技进步", 1, 1)
    assert text[group.start: group.end] == "科技进步“一法一条例”"
    doc = Document("doc:founding", FOUNDING, "founding", "report", text, "h", issuer="天津市科学技术局", year=2023)
    citations, regulations = extract_citations(doc)
    members = {c.regulation_key for c in citations if c.start == group.start}
    assert members == {"科学技术进步法", "天津市科学技术进步促进条例"}
    kinds = {r.key: (r.kind, r.jurisdiction) for r in regulations}
    assert kinds["天津市科学技术进步促进条例"] == ("local_regulation", "天津市")
    assert kinds["科学技术进步法"] == ("law", None)
    # the draft named bare is the issuer's own, kind draft
    assert kinds["天津市促进天开高教科创园发展条例"] == ("draft", "天津市")
    assert len({r.key for r in regulations}) == len(regulations)


def test_actor_named_in_the_clause(corpus: Path) -> None:
    text = _text(corpus, SHENZHEN_2024)
    doc = Document("doc:sz", SHENZHEN_2024, "sz", "report", text, "h", issuer="深圳市人民政府", year=2023)
    _, regulations = extract_citations(doc)
    by_key = {r.key: r for r in regulations}
    # 广东省出台《深汕特别合作区条例》 and later 深入实施《深汕特别合作区条例》: one entity, the province's
    shenshan = [r for r in regulations if "深汕特别合作区条例" in r.key]
    assert len(shenshan) == 1 and shenshan[0].jurisdiction == "广东省" and shenshan[0].kind == "local_regulation"
    # 国务院出台《河套深港科技创新合作区深圳园区发展规划》 is not the city's
    assert by_key["河套深港科技创新合作区深圳园区发展规划"].jurisdiction is None


def test_titles_named_by_their_body_and_the_issuers_own_level(corpus: Path) -> None:
    text = _text(corpus, "reports/gov-work/shenzhen-gwr-2025.txt")
    doc = Document("doc:sz25", "sz25", "sz25", "report", text, "h", issuer="深圳市人民政府", year=2024)
    citations, regulations = extract_citations(doc)
    # 认真贯彻落实党的二十届三中全会《决定》: the 《决定》 of the plenum, carried out
    plenum = next(r for r in regulations if r.name == "党的二十届三中全会决定")
    assert plenum.kind == "policy" and plenum.jurisdiction is None
    cite = next(c for c in citations if c.regulation_key == plenum.key)
    assert cite.surface == "《决定》" and laws.relation_of(text, cite.start, cite.end) == "implements"
    # 认真落实中办、国办印发《…规定》和市委全面依法治市委员会《关于…的意见》: the second is the city's own
    founding = _text(corpus, FOUNDING)
    doc = Document("doc:founding", FOUNDING, "founding", "report", founding, "h", issuer="天津市科学技术局", year=2023)
    places = {r.name: r.jurisdiction for r in extract_citations(doc)[1]}
    assert places["关于党政主要负责人进一步履行推进法治建设第一责任人职责的意见"] == "天津市"
    assert places["党政主要负责人履行推进法治建设第一责任人职责规定"] is None
