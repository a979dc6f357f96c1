"""Rule links on real reports: the relation of each link, bare names and group references, and the implicit
(topic and practice) links a legal-affairs reader would draw, with the guards that keep them precise."""

from __future__ import annotations

from pathlib import Path

import pytest

from policykg.graph.model import Article, Document, Extraction, Link, Measure, Regulation, content_hash
from policykg.ingest.extract import extract
from policykg.ingest.linking import is_preamble, rule_links
from tests.conftest import FOUNDING

REGULATIONS = (
    "regulations/xingzheng-chufa-fa-2021.md",
    "regulations/zhengfu-xinxi-gongkai-tiaoli-2019.md",
    "regulations/kejijinbufa-2021.md",
    "regulations/shiyan-dongwu-guanli-tiaoli.md",
    "regulations/renlei-yichuan-ziyuan-guanli-tiaoli-2019.md",
    "regulations/gongping-jingzheng-shencha-tiaoli-2024.md",
    "regulations/zhongda-xingzheng-juece-chengxu-zanxing-tiaoli.md",
    "regulations/youhua-yingshang-huanjing-tiaoli.md",
    "regulations/xingzheng-xuke-fa-2019.md",
    "regulations/xingzheng-fuyi-fa-2023.md",
)


def _document(corpus: Path, name: str, doc_type: str, issuer: str | None = None, year: int | None = None) -> Document:
    text = (corpus / name).read_text(encoding="utf-8")
    return Document(f"doc:{name}", name, name, doc_type, text, content_hash(text), issuer=issuer, year=year)  # type: ignore[arg-type]


def _links(corpus: Path, reports: list[Document]) -> tuple[list[Link], dict[str, str], list[Extraction]]:
    """Rule links of ``reports`` against the regulations above held in full; regulation id → key."""
    held = [extract(_document(corpus, name, "regulation")) for name in REGULATIONS]
    done = [extract(doc) for doc in reports]
    regulations: dict[str, Regulation] = {}
    articles: list[Article] = []
    for extraction in held:
        regulations.update({r.key: r for r in extraction.regulations})
        articles += extraction.articles
    for extraction in done:
        for reg in extraction.regulations:
            regulations.setdefault(reg.key, reg)
    links = rule_links(
        {doc.id: doc for doc in reports},
        [m for e in done for m in e.measures],
        list(regulations.values()),
        [c for e in done for c in e.citations],
        articles,
    )
    return links, {r.id: r.key for r in regulations.values()}, done


@pytest.fixture(scope="module")
def founding_links(corpus: Path) -> tuple[list[Link], dict[str, str], Extraction]:
    links, keys, (done,) = _links(corpus, [_document(corpus, FOUNDING, "report", "天津市科学技术局", 2023)])
    return links, keys, done


def _by_title(founding: tuple[list[Link], dict[str, str], Extraction]) -> dict[tuple[str, str], set[str]]:
    """(measure title, regulation key) → the relations linking them."""
    links, keys, done = founding
    titles = {m.id: m.title for m in done.measures}
    out: dict[tuple[str, str], set[str]] = {}
    for link in links:
        out.setdefault((titles[link.measure_id], keys[link.regulation_id]), set()).add(link.relation)
    return out


def test_the_founding_reports_expected_implicit_links(founding_links: tuple[list[Link], dict[str, str], Extraction]) -> None:
    pairs = _by_title(founding_links)
    expected = [
        ("全面推进政务公开", "政府信息公开条例"),  # 主动公开政府信息2477条
        ("持续深入推进科技创新法治体系建设和宣贯", "科学技术进步法"),  # 科技进步“一法一条例”
        ("持续深入推进科技创新法治体系建设和宣贯", "天津市科学技术进步促进条例"),
        ("健全公平竞争审查工作机制", "公平竞争审查条例"),
        ("落实重大行政决策程序", "重大行政决策程序条例"),
        ("依法履行行政执法职责", "人类遗传资源管理条例"),
        ("依法履行行政执法职责", "实验动物管理条例"),
    ]
    for pair in expected:
        assert pair in pairs, pair
    # the group is studied (宣贯), not implemented
    assert pairs[("持续深入推进科技创新法治体系建设和宣贯", "科学技术进步法")] == {"studies"}


def test_enforcement_practice_links_to_the_articles_of_the_administrative_penalty_law(
    founding_links: tuple[list[Link], dict[str, str], Extraction],
) -> None:
    links, keys, done = founding_links
    titles = {m.id: m.title for m in done.measures}
    penalty = [link for link in links if keys[link.regulation_id] == "行政处罚法"]
    # 严格落实行政执法公示、执法全过程记录、重大执法决定法制审核制度 / 严格落实行政执法“三项制度”
    by_measure: dict[str, set[str | None]] = {}
    for link in penalty:
        assert link.relation == "implements" and link.evidence.method == "topic" and link.article_id
        by_measure.setdefault(link.measure_id, set()).add(link.evidence.article)
    three = {"第三十九条", "第四十七条", "第五十八条"}
    credibility = next(m.id for m in done.measures if m.title == "增强行政执法公信力")
    assert by_measure[credibility] == three
    planned = next(m.id for m in done.measures if "行政执法“三项制度”" in m.text)
    assert by_measure[planned] == three
    assert all(titles[m] for m in by_measure)
    disclosure = {link.evidence.article for link in links if keys[link.regulation_id] == "政府信息公开条例"}
    assert disclosure <= {"第十九条", "第二十条"} and disclosure


def test_relations_on_the_founding_report(founding_links: tuple[list[Link], dict[str, str], Extraction]) -> None:
    pairs = _by_title(founding_links)
    # 修改后的《条例》…施行; 积极开展《条例》宣贯解读工作
    assert pairs[("加强科技创新立法", "天津市科学技术进步促进条例")] == {"revises", "studies"}
    # 执法人员就《科学技术进步法》《人类遗传资源管理条例》《实验动物管理条例》等法律法规开展普法宣传
    assert "studies" in pairs[("提升行政执法满意度", "实验动物管理条例")]
    # 积极做好促进天开高教科创园发展条例立法工作: a draft named bare, of the issuer's city
    assert pairs[("持续深入推进科技创新法治体系建设和宣贯", "天津市促进天开高教科创园发展条例")] == {"drafts"}
    # 将“制定天津市科技计划项目验收管理办法”纳入…重大行政决策事项目录
    assert pairs[("落实重大行政决策程序", "天津市科技计划项目验收管理办法")] == {"drafts"}
    # 加强习近平法治思想和宪法、民法典等法律法规的学习宣传
    assert pairs[("持续深入推进科技创新法治体系建设和宣贯", "宪法")] == {"studies"}


def test_no_catch_all_and_no_negated_topic(founding_links: tuple[list[Link], dict[str, str], Extraction]) -> None:
    pairs = _by_title(founding_links)
    links, keys, _ = founding_links
    # 优化营商环境 is a policy goal, not the subject of a measure: 优化营商环境条例 is linked only where an article
    # of it says what the measure does (第五十八条: 行政执法公示、全过程记录和重大行政执法决定法制审核制度)
    broad = [link for link in links if keys[link.regulation_id] == "优化营商环境条例"]
    assert {link.evidence.article for link in broad} == {"第五十八条"}
    assert all("三项制度" in (link.evidence.mention or "") or "公示" in (link.evidence.mention or "") for link in broad)
    # 我局未发生行政复议、行政诉讼案件 says nothing was done under 行政复议法
    assert ("加强和规范行政应诉工作", "行政复议法") not in pairs


def test_bare_names_and_guards_on_a_state_council_report(corpus: Path) -> None:
    name = "reports/gov-work/state-council-gwr-2016.txt"
    links, keys, (done,) = _links(corpus, [_document(corpus, name, "report", "中华人民共和国国务院", 2015)])
    text = done.document.text
    for link in links:
        if keys[link.regulation_id] == "行政许可法":  # 全部取消非行政许可审批 is not about 行政许可
            assert text[link.evidence.mention_start - 1: link.evidence.mention_start] != "非"
    council = "reports/gov-work/state-council-gwr-2021.txt"
    links, keys, (done,) = _links(corpus, [_document(corpus, council, "report", "中华人民共和国国务院", 2020)])
    # 实施优化营商环境条例 named bare: implements; 研究制定生态保护补偿条例: a draft
    implements = {(keys[link.regulation_id], link.relation) for link in links}
    assert ("优化营商环境条例", "implements") in implements
    assert ("生态保护补偿条例", "drafts") in implements
    kinds = {r.key: r.kind for r in done.regulations}
    assert kinds["生态保护补偿条例"] == "draft"


def test_preambles_are_no_measures_to_link(corpus: Path, founding_links: tuple[list[Link], dict[str, str], Extraction]) -> None:
    text = (corpus / "reports/gov-work/shenzhen-gwr-2024.txt").read_text(encoding="utf-8")
    dashed = [line for line in text.splitlines() if line.strip().startswith("——")]
    assert len(dashed) >= 5  # ——经济持续恢复、回升向好。… the year in summary lines
    for line in dashed:
        start = text.index(line)
        summary = Measure("measure:x", "doc:x", line[:10], line, start, start + len(line), "", 2023, "done")
        assert is_preamble(summary)
    _, _, done = founding_links
    assert not any(is_preamble(m) for m in done.measures)
