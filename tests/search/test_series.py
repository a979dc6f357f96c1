"""Across the years: indicator series, plans against outcomes, measure diffs — on the real reports.

The knowledge base holds the State Council reports delivered 2014–2025 and the Shenzhen reports
delivered 2023–2025, embedded with the real model (built once per module). Expected values are
read from the texts (``grep 国内生产总值增长 state-council-gwr-*.txt``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policykg.api.cli import app as cli_app
from policykg.api.errors import NotFound
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.graph.model import Document
from policykg.ingest.indicators import series_indicators
from policykg.ingest.protocols import Encoder

SC = "中华人民共和国国务院"
SZ = "深圳市人民政府"
SHENZHEN = [f"reports/gov-work/shenzhen-gwr-{y}.txt" for y in (2023, 2024, 2025)]
EMBEDDED = ["reports/gov-work/state-council-gwr-2024.txt", "reports/gov-work/state-council-gwr-2025.txt", *SHENZHEN]
TEXTS = [f"reports/gov-work/state-council-gwr-{y}.txt" for y in range(2014, 2026)] + SHENZHEN + ["reports/fazhi/tianjin-kjj-fazhi-2023.txt"]


def _ingested(data: Path, encoder: Encoder, corpus: Path, files: list[str]) -> KnowledgeBase:
    kb = KnowledgeBase(data, encoder=encoder)
    report = kb.ingest([corpus / r for r in files], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb


@pytest.fixture(scope="module")
def kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> KnowledgeBase:
    """Plans and diffs need the real passage vectors: the reports they compare, on the real model."""
    return _ingested(tmp_path_factory.mktemp("series"), encoder, corpus, EMBEDDED)


@pytest.fixture(scope="module")
def text_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: Encoder) -> KnowledgeBase:
    """Indicator series read only the stored texts: every State Council report, stand-in vectors."""
    return _ingested(tmp_path_factory.mktemp("series-text"), hashing_encoder, corpus, TEXTS)


def _doc(text: str, year: int = 2023) -> Document:
    return Document("doc:t", "t.txt", "t", "report", text, "", "测试", year)


# ------------------------------------------------------------------ the parser alone
def test_parser_forms_and_widths() -> None:
    text = "主要预期目标是：国内生产总值增长6%－6.5%；城镇新增就业1100万人以上，城镇调查失业率5.5%左右；居民消费价格涨幅3%左右；粮食产量1.3万亿斤以上。"
    found = {i.name: i for i in series_indicators(_doc(text), [(0, len(text))])}
    gdp = found["国内生产总值增长"]
    assert (gdp.low, gdp.high, gdp.bound, gdp.approximate, gdp.unit, gdp.kind, gdp.year) == (6.0, 6.5, None, False, "%", "target", 2024)
    assert (found["城镇新增就业"].value, found["城镇新增就业"].unit, found["城镇新增就业"].bound) == (1100.0, "万人", "at least")
    assert found["城镇调查失业率"].approximate and found["城镇调查失业率"].value == 5.5
    assert found["居民消费价格涨幅"].value == 3.0
    assert (found["粮食产量"].value, found["粮食产量"].unit, found["粮食产量"].bound) == (1.3, "万亿斤", "at least")
    for ind in found.values():
        assert text[ind.start: ind.end] == ind.quote
    full = "过去一年，全年国内生产总值增长２．３％，经济增长６．５％－７％。"
    items = series_indicators(_doc(full), [])
    assert [(i.value, i.high, i.kind, i.year) for i in items] == [(2.3, 2.3, "actual", 2023), (6.5, 7.0, "actual", 2023)]


def test_parser_rule_of_law_report() -> None:
    text = "新增行政执法人员1名，行政执法人员总数达18名。全年共接待信访人员70余人次，处置各类信访事项30余件次。我局未发生行政复议、行政诉讼案件。"
    found = {i.name: i for i in series_indicators(_doc(text), [])}
    assert found["新增行政执法人员"].value == 1 and found["行政执法人员"].value == 18
    assert found["信访人次"].approximate and (found["信访人次"].value, found["信访人次"].unit) == (70, "人次")
    assert (found["信访事项"].value, found["信访事项"].unit) == (30, "件次")
    assert found["行政复议案件"].value == 0


def test_parser_skips_averages_shares_and_intensity() -> None:
    text = "国内生产总值年均增长7.8%。研发投入占国内生产总值比重达2.5%。单位国内生产总值能耗下降3%以上。前海地区生产总值增长15.0%。"
    names = [(i.name, i.value) for i in series_indicators(_doc(text), [])]
    assert names == [("能耗强度下降", 3.0)]


# ------------------------------------------------------------------ indicator series on the State Council reports
GDP_TARGETS = {  # year → (low, high, bound, approximate), as written in the report delivered that year
    2014: (7.5, 7.5, None, True), 2015: (7.0, 7.0, None, True), 2016: (6.5, 7.0, None, False),
    2017: (6.5, 6.5, None, True), 2018: (6.5, 6.5, None, True), 2019: (6.0, 6.5, None, False),
    2021: (6.0, 6.0, "at least", False), 2022: (5.5, 5.5, None, True), 2023: (5.0, 5.0, None, True),
    2024: (5.0, 5.0, None, True), 2025: (5.0, 5.0, None, True),
}
GDP_ACTUALS = {  # year → growth stated in the report on that year (delivered the year after)
    2013: 7.7, 2014: 7.4, 2015: 6.9, 2016: 6.7, 2017: 6.9, 2018: 6.6, 2019: 6.1, 2020: 2.3,
    2021: 8.1, 2022: 3.0, 2023: 5.2, 2024: 5.0,
}


def test_gdp_growth_series(text_kb: KnowledgeBase, corpus: Path) -> None:
    kb = text_kb
    items = kb.indicators(SC, "国内生产总值增长")
    targets = {i["year"]: i for i in items if i["kind"] == "target"}
    assert set(targets) == set(GDP_TARGETS)  # the report delivered 2020 set no growth target
    for year, (low, high, bound, approx) in GDP_TARGETS.items():
        t = targets[year]
        assert (t["low"], t["high"], t["bound"], t["approximate"], t["unit"]) == (low, high, bound, approx, "%"), year
        assert t["value"] == low
        assert t["document"]["path"].endswith(f"state-council-gwr-{year}.txt")
    actuals = {i["year"]: i["value"] for i in items if i["kind"] == "actual"}
    assert actuals == GDP_ACTUALS
    for i in items:  # every quote is the stored text at its offsets, and is in the file as written
        assert kb.document(i["document"]["id"]).text[i["start"]: i["end"]] == i["quote"]
        assert i["quote"] in (corpus / i["document"]["path"]).read_text(encoding="utf-8")  # the path is relative to the manifest
    assert targets[2021]["quote"] == "国内生产总值增长6%以上"
    assert targets[2019]["quote"] == "国内生产总值增长6%－6.5%"


def test_indicator_variants_and_other_series(text_kb: KnowledgeBase) -> None:
    kb = text_kb
    gdp = kb.indicators(SC, "国内生产总值增长")
    assert kb.indicators(SC, "经济增长") == gdp == kb.indicators(SC, "GDP增长")
    jobs = {i["year"]: i for i in kb.indicators(SC, "城镇新增就业") if i["kind"] == "target"}
    assert (jobs[2017]["value"], jobs[2017]["unit"], jobs[2017]["bound"]) == (1100.0, "万人", "at least")
    assert jobs[2023]["approximate"] and jobs[2023]["value"] == 1200.0
    grain = {i["year"]: i for i in kb.indicators(SC, "粮食产量") if i["kind"] == "target"}
    assert (grain[2024]["value"], grain[2024]["unit"], grain[2024]["bound"]) == (1.3, "万亿斤", "at least")
    assert grain[2025]["approximate"] and grain[2025]["value"] == 1.4
    assert {i["name"] for i in kb.indicators("天津市科学技术局", "信访")} == {"信访人次", "信访事项"}
    sz = {i["year"]: i for i in kb.indicators(SZ, "地区生产总值增长") if i["kind"] == "actual"}
    assert sz[2024]["value"] == 5.8
    with pytest.raises(NotFound):
        kb.indicators("没有这个机关")


# ------------------------------------------------------------------ plans against outcomes
# Plans of the report delivered 2024 and the review paragraph of the report delivered 2025 that
# reports them, checked by hand (the 2025 review is written as 一是 … 七是 paragraphs).
HAND_CHECKED_PLANS = {
    "加强社会保障和服务": "五是", "维护国家安全和社会稳定": "七是", "提高医疗卫生服务能力": "五是",
    "多措并举稳就业促增收": "五是", "深入推进依法行政": "七是", "积极培育新兴产业和未来产业": "三是",
    "全面提高行政效能": "七是", "推动产业链供应链优化升级": "三是", "加大吸引外资力度": "二是",
    "推动外贸质升量稳": "二是", "积极稳妥推进碳达峰碳中和": "六是", "推动生态环境综合治理": "六是",
    "积极推进新型城镇化": "四是", "加快全国统一大市场建设": "二是", "提高区域协调发展水平": "四是",
}


def test_plans_2024(kb: KnowledgeBase) -> None:
    result = kb.plans(SC, 2024)
    assert result["plan"]["path"].endswith("gwr-2024.txt") and result["outcome"]["path"].endswith("gwr-2025.txt")
    c = result["counts"]
    assert c["planned"] == 38 and c["carried out"] + c["not reported"] == 38
    assert 20 <= c["carried out"] <= 32
    by_title = {p["plan"]["title"]: p for p in result["plans"]}
    right = 0
    for title, paragraph in HAND_CHECKED_PLANS.items():
        p = by_title[title]
        assert p["status"] == "carried out", title
        right += p["match"]["quote"].startswith(paragraph)
    assert right / len(HAND_CHECKED_PLANS) >= 0.8
    outcome = kb.document(result["outcome"]["id"]).text
    plan_text = kb.document(result["plan"]["id"]).text
    for p in result["plans"]:
        assert plan_text[p["plan"]["start"]: p["plan"]["end"]] == p["plan"]["quote"]
        if p["status"] == "carried out":
            m = p["match"]
            assert outcome[m["start"]: m["end"]] == m["quote"] and p["score"] >= result["threshold"]


# ------------------------------------------------------------------ diff between consecutive Shenzhen reports
HAND_CHECKED_CONTINUED = {  # 2024 report (on 2023) measure ← 2023 report (on 2022) measure, or later years
    ("建设廉洁政府", "深化正风肃纪反腐"),
    ("打造高能级国际贸易枢纽", "推动国际贸易枢纽建设取得新突破"),
    ("全力推进重大合作平台建设", "推动重大合作平台建设取得新突破"),
    ("积极稳妥推进碳达峰碳中和", "积极稳妥推进碳达峰碳中和"),
    ("建设国际著名体育城市", "推动体育事业高质量发展"),
}


def test_diff_shenzhen(kb: KnowledgeBase) -> None:
    started = time.perf_counter()
    result = kb.diff(SZ, 2023, 2024)
    assert time.perf_counter() - started < 10
    c = result["counts"]
    assert c["continued"] + c["new"] == c["to"] and c["dropped"] <= c["from"]
    assert c["continued"] >= c["to"] // 2
    pairs = {(p["to"]["title"], p["from"]["title"]) for p in result["continued"]}
    assert pairs >= HAND_CHECKED_CONTINUED
    texts = {d: kb.document(result[d]["id"]).text for d in ("from", "to")}
    for p in result["continued"]:
        assert p["score"] >= result["threshold"]
        for side in ("from", "to"):
            q = p[side]
            assert texts[side][q["start"]: q["end"]] == q["quote"]
            assert texts[side][q["passage"]["start"]: q["passage"]["end"]] == q["passage"]["quote"]
    assert kb.diff(SZ, 2022, 2023)["counts"]["to"] > 0
    with pytest.raises(NotFound):
        kb.diff(SZ, 2010, 2011)


# ------------------------------------------------------------------ CLI and HTTP
def test_cli_and_http(kb: KnowledgeBase, text_kb: KnowledgeBase) -> None:
    runner = CliRunner()
    res = runner.invoke(cli_app, ["indicators", "--issuer", "国务院", "--name", "经济增长", "--json", "--data", str(text_kb.data_dir)])
    assert res.exit_code == 0, res.output
    items = json.loads(res.stdout)
    assert set(items[0]) == {"name", "year", "kind", "value", "low", "high", "bound", "approximate", "unit", "quote", "start", "end", "document"}
    res = runner.invoke(cli_app, ["diff", "--issuer", SZ, "--from", "2023", "--to", "2024", "--data", str(kb.data_dir)])
    assert res.exit_code == 0 and "continued" in res.stdout
    res = runner.invoke(cli_app, ["plans", "--issuer", "国务院", "--year", "2024", "--data", str(kb.data_dir)])
    assert res.exit_code == 0 and "carried out" in res.stdout

    r = TestClient(create_app(text_kb)).get("/issuers/国务院/indicators", params={"name": "GDP增长"})
    assert r.status_code == 200 and len(r.json()) == len(GDP_TARGETS) + len(GDP_ACTUALS)
    client = TestClient(create_app(kb))
    r = client.get(f"/issuers/{SZ}/diff", params={"from": 2023, "to": 2024})
    assert r.status_code == 200 and r.json()["counts"]["to"] > 0
    r = client.get("/issuers/国务院/plans", params={"year": 2024})
    assert r.status_code == 200 and r.json()["counts"]["planned"] == 38
    assert client.get("/issuers/无此机关/plans", params={"year": 2024}).status_code == 404
