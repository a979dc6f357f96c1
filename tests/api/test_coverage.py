"""Article coverage of a regulation held in full: which articles have measures whose links name them, by year.

Checked against an independent count from ``kb.measures_for`` (the evidence's article labels), on the
founding report's store and on the whole corpus; the CLI's ``--json`` against the HTTP answer.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policykg.api.cli import app as cli_app
from policykg.api.errors import InvalidParameter, KnowledgeBaseError, NotFound
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.graph.readmodels import Coverage

REG = "实验动物管理条例"
ARTICLE = re.compile(r"第[一二三四五六七八九十百零〇\d]+条")


def expected_counts(kb: KnowledgeBase, name: str, issuer: str | None = None, year_from: int | None = None,
                    year_to: int | None = None) -> tuple[dict[tuple[str, int], set[str]], set[str]]:
    """From ``measures_for`` alone: (article label, year) → measure ids naming it, and the measures naming no article."""
    issuers = {d.id: d.issuer or "" for d in kb.documents()}
    by_cell: dict[tuple[str, int], set[str]] = defaultdict(set)
    linked: set[str] = set()
    labels = {a.label for a in kb.regulation(name).articles}
    for m in kb.measures_for(name).measures:
        if (issuer and issuer not in issuers[m.document.id]) or (year_from and (m.year or 0) < year_from) or (
                year_to and (m.year or 0) > year_to):
            continue
        named = {e.article for e in m.evidence if e.article in labels}
        for label in named:
            by_cell[(label, m.year or 0)].add(m.id)
        if any(e.article not in labels for e in m.evidence):
            linked.add(m.id)
    return by_cell, linked


def check_coverage(kb: KnowledgeBase, name: str, cov: Coverage, **scope: object) -> None:
    """The answer matches the independent count; every article of the text is there once, in text order."""
    detail = kb.regulation(name)
    rows = [a for c in cov.chapters for a in c.articles]
    assert [a.id for a in rows] == [a.id for a in detail.articles]
    assert [c.title for c in cov.chapters] == [title for title, _ in itertools.groupby(a.chapter for a in detail.articles)]
    assert cov.summary.articles == len(detail.articles) == cov.summary.covered + cov.summary.uncovered
    assert cov.summary.covered == sum(1 for a in rows if a.total)
    by_cell, linked = expected_counts(kb, name, **scope)  # type: ignore[arg-type]
    got = {(a.label, y): n for a in rows for y, n in a.counts_by_year.items()}
    assert got == {cell: len(ids) for cell, ids in by_cell.items()}
    for a in rows:
        assert a.total == len({m.id for m in a.measures}) == len(a.measures)
        assert {m.id for m in a.measures} == set().union(*(ids for (label, _), ids in by_cell.items() if label == a.label))
        assert all(m.article == a.label for m in a.measures)
    assert {m.id for m in cov.without_article} == linked and cov.summary.without_article == len(linked)
    texts: dict[str, str] = {}
    for m in [*cov.without_article, *(m for a in rows for m in a.measures)]:
        text = texts.setdefault(m.document.id, kb.document(m.document.id).text)
        assert text[m.start:m.end] == m.quote and m.quote
        assert m.year is not None and all(y in cov.years for y in [m.year])


# ---------------------------------------------------------------- the founding report's store
def test_founding_report_names_no_article(founding_kb: KnowledgeBase) -> None:
    """The report names 实验动物管理条例 three times but never a 第N条. Its citation is in a 普法宣传 sentence
    (studies: not implementation, not coverage); the two topic links (实验动物 in the measure's text) point at
    the article that holds the words and is closest to the measure; every other article is uncovered."""
    cov = founding_kb.coverage(REG)
    check_coverage(founding_kb, REG, cov)
    report = next(d for d in founding_kb.documents() if d.doc_type == "report")
    assert not ARTICLE.search(founding_kb.document(report.id).text)
    assert cov.summary.articles == 33 and cov.summary.covered == 2 and cov.summary.uncovered == 31
    assert [c.title for c in cov.chapters][:2] == ["第一章 总则", "第二章 实验动物的饲育管理"]
    assert len(cov.chapters) == 8 and cov.chapters[0].articles[0].label == "第一条"
    covering = [m for c in cov.chapters for a in c.articles for m in a.measures]
    assert {m.title for m in covering} == {"着力加强公正监管", "依法履行行政执法职责"}
    assert {m.method for m in covering} == {"topic"} and {m.year for m in covering} == {2023}
    assert "提升行政执法满意度" not in {m.title for m in [*covering, *cov.without_article]}  # it studies the law
    assert all(u.name == "天津市科学技术局" for m in covering for u in m.units)
    assert cov.years == [2023, 2024]  # the report's measures: done in 2023, planned for 2024


def test_filters(founding_kb: KnowledgeBase) -> None:
    kb = founding_kb
    assert kb.coverage(REG, issuer="天津市科学技术局").chapters == kb.coverage(REG).chapters
    assert kb.coverage(REG, issuer="科学技术局").summary.covered == 2  # a part of the issuer's name
    later = kb.coverage(REG, year_from=2024)
    assert later.without_article == [] and later.years == [2024] and later.summary.uncovered == 33
    check_coverage(kb, REG, later, year_from=2024)
    assert kb.coverage(REG, year_from=2023, year_to=2023).summary.measures == 2
    with pytest.raises(InvalidParameter, match="深圳"):
        kb.coverage(REG, issuer="深圳市人民政府")
    with pytest.raises(InvalidParameter, match="empty"):
        kb.coverage(REG, year_from=2024, year_to=2023)


def test_every_regulation_held_in_full(founding_kb: KnowledgeBase) -> None:
    full = [r for r in founding_kb.regulations() if r.doc_id]
    assert len(full) == 3
    for r in full:
        check_coverage(founding_kb, r.name, founding_kb.coverage(r.name))


def test_cited_only_and_unknown(founding_kb: KnowledgeBase) -> None:
    cited = next(r for r in founding_kb.regulations() if not r.doc_id)
    with pytest.raises(KnowledgeBaseError, match=r"^no full text: ") as exc:
        founding_kb.coverage(cited.name)
    assert exc.value.status == 400 and "\n" not in str(exc.value)
    with pytest.raises(NotFound):
        founding_kb.coverage("没有这部条例")
    with TestClient(create_app(founding_kb)) as client:
        r = client.get(f"/regulations/{cited.name}/coverage")
        assert r.status_code == 400 and r.json()["detail"].startswith("no full text: ")
        assert client.get("/regulations/没有这部条例/coverage").status_code == 404
        assert client.get(f"/regulations/{REG}/coverage", params={"issuer": "深圳"}).status_code == 422
        assert client.get(f"/regulations/{REG}/coverage", params={"from": 1800}).status_code == 422
    code = CliRunner().invoke(cli_app, ["coverage", cited.name, "--data", str(founding_kb.data_dir)])
    assert code.exit_code == 1 and code.stderr.strip().startswith("error: no full text: ")
    assert len(code.stderr.strip().splitlines()) == 1


def test_cli_json_equals_http(founding_kb: KnowledgeBase) -> None:
    runner = CliRunner()
    with TestClient(create_app(founding_kb)) as client:
        cases: list[tuple[list[str], dict[str, str | int]]] = [
            ([], {}), (["--from", "2023", "--to", "2023"], {"from": 2023, "to": 2023}), (["--issuer", "科学技术局"], {"issuer": "科学技术局"}),
        ]
        for args, params in cases:
            for name in (REG, "中华人民共和国科学技术进步法"):
                result = runner.invoke(cli_app, ["coverage", name, *args, "--json", "--data", str(founding_kb.data_dir)])
                assert result.exit_code == 0, result.output
                http = client.get(f"/regulations/{name}/coverage", params=params)
                assert http.status_code == 200
                assert json.loads(result.stdout) == http.json()


def test_cli_table(founding_kb: KnowledgeBase) -> None:
    result = CliRunner().invoke(cli_app, ["coverage", REG, "--data", str(founding_kb.data_dir)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"{REG}: 2 of 33 articles covered by 2 measures" in out and "31 uncovered" in out
    assert "第八章 附则: 第三十一条、第三十二条、第三十三条" in out
    assert "第一章 总则: 第一条、第四条、第五条" in out  # 第二条 and 第三条 are in the table, covered in 2023


# ---------------------------------------------------------------- the whole corpus
@pytest.mark.slow
def test_corpus_coverage(corpus_kb: KnowledgeBase) -> None:
    kb = corpus_kb
    # the founding report's 依法履行行政执法职责 (人类遗传资源管理…执法职责, 现场检查40次) covers an article of the
    # human genetic resources regulation through its topic link
    gene = kb.coverage("中华人民共和国人类遗传资源管理条例")
    check_coverage(kb, "中华人民共和国人类遗传资源管理条例", gene)
    art = next(a for c in gene.chapters for a in c.articles if any(m.title == "依法履行行政执法职责" for m in a.measures))
    assert art.counts_by_year.get(2023, 0) >= 1
    m = next(m for m in art.measures if m.title == "依法履行行政执法职责")
    assert m.method == "topic"
    assert m.year == 2023 and m.document.title == "市科技局2023年法治政府建设情况报告"
    assert [u.name for u in m.units] == ["天津市科学技术局"]

    # 优化营商环境条例: articles covered year after year by the State Council and Shenzhen
    name = "优化营商环境条例"
    cov = kb.coverage(name)
    check_coverage(kb, name, cov)
    # (a catch-all for semantic links before: a regulation close to many measures now needs a closer match)
    assert 5 <= cov.summary.covered < cov.summary.articles
    busiest = max((a for c in cov.chapters for a in c.articles), key=lambda a: a.total)
    assert len(busiest.counts_by_year) >= 2 and sum(busiest.counts_by_year.values()) == busiest.total
    shenzhen = kb.coverage(name, issuer="深圳")
    check_coverage(kb, name, shenzhen, issuer="深圳")
    issuers = {d.id: d.issuer for d in kb.documents()}
    shown = [m for c in shenzhen.chapters for a in c.articles for m in a.measures] + shenzhen.without_article
    assert shown and all("深圳" in (issuers[m.document.id] or "") for m in shown)
    assert shenzhen.summary.covered < cov.summary.covered
    recent = kb.coverage(name, year_from=2020, year_to=2022)
    check_coverage(kb, name, recent, year_from=2020, year_to=2022)
    assert recent.years == [2020, 2021, 2022]

    # every regulation held in full adds up
    for r in kb.regulations():
        if r.doc_id:
            check_coverage(kb, r.name, kb.coverage(r.name))
