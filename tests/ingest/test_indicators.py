"""Indicators read right, one rule per test, on sentences of the shared corpus (found in the files, never copied)."""

from __future__ import annotations

import csv
import re
from functools import cache
from pathlib import Path

import pytest

from policykg.graph.model import Document, Extraction, Indicator, Measure
from policykg.ingest.indicators import document_indicators, measure_indicators, parse_number
from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import prepare
from tests.conftest import CORPUS, FOUNDING

SZ_2017 = "reports/gov-work/shenzhen-gwr-2017.txt"
SZ_2019 = "reports/gov-work/shenzhen-gwr-2019.txt"
SZ_2020 = "reports/gov-work/shenzhen-gwr-2020.txt"
SZ_2021 = "reports/gov-work/shenzhen-gwr-2021.txt"
SZ_2023 = "reports/gov-work/shenzhen-gwr-2023.txt"
SZ_2024 = "reports/gov-work/shenzhen-gwr-2024.txt"
SZ_2025 = "reports/gov-work/shenzhen-gwr-2025.txt"
SC_2019 = "reports/gov-work/state-council-gwr-2019.txt"
SC_2023 = "reports/gov-work/state-council-gwr-2023.txt"
SC_2024 = "reports/gov-work/state-council-gwr-2024.txt"


@cache
def _text(rel: str) -> str:
    return prepare(CORPUS / rel).document.text


def sentence(rel: str, *parts: str) -> str:
    """The sentence (up to 。) of the report ``rel`` holding all ``parts`` in order; fails when it is not there."""
    text = _text(rel)
    at = text.find(parts[0])
    assert at >= 0, f"{parts[0]!r} not in {rel}"
    start = max(text.rfind(c, 0, at) for c in "。\n") + 1
    end = min(i for i in (text.find(c, at) for c in "。\n") if i >= 0) + 1
    found = text[start:end]
    pos = 0
    for part in parts:
        pos = found.find(part, pos)
        assert pos >= 0, f"{part!r} not in the sentence {found!r}"
    return found


def read(text: str, planned: bool = False, year: int = 2023) -> list[Indicator]:
    """The indicators of ``text`` read as one measure (a plan's when ``planned``)."""
    doc = Document("doc:t", "t.txt", "t", "report", text, "", "测试", year)
    measure = Measure("m:t", doc.id, "t", text, 0, len(text), "t", year, "planned" if planned else "done")
    return measure_indicators(doc, [measure], [(0, len(text))] if planned else [])


def by_name(indicators: list[Indicator]) -> dict[str, Indicator]:
    return {i.name: i for i in indicators}


@cache
def _extraction(rel: str) -> Extraction:
    rows = {r["path"]: r for r in csv.DictReader((CORPUS / "manifest.csv").open(encoding="utf-8"))}
    row = rows[rel]
    assert row["doc_type"] == "report"
    meta = Metadata(doc_type="report", title=row["title"], issuer=row["issuer"], year=int(row["year"]))
    return prepare(CORPUS / rel, meta).extraction


@pytest.fixture(autouse=True)
def _needs_corpus(corpus: Path) -> None:
    """Every test reads the shared corpus."""


# ------------------------------------------------------------------ units
def test_counts_in_zong_and_pici_after_a_verb() -> None:
    found = read(sentence(SZ_2017, "查处环保违法行为1688宗"))
    assert ("环保违法行为", 1688.0, "宗") in [(i.name, i.value, i.unit) for i in found]
    pici = read(sentence(SZ_2025, "接待部长级以上外宾团组150批次"))
    assert [(i.name, i.value, i.unit) for i in pici] == [("部长级以上外宾团组", 150.0, "批次"), ("部长级以上外宾团组", 74.4, "%")]


def test_two_counts_in_one_clause_keep_their_nouns() -> None:
    found = read(sentence(SZ_2020, "564宗已批未建土地和47宗历史停建项目"))
    counts = [(i.name, i.value, i.unit) for i in found if i.unit == "宗"]
    assert counts == [("已批未建土地", 564.0, "宗"), ("历史停建项目", 47.0, "宗")]


def test_compound_units_stay_whole() -> None:
    water = read(sentence(SZ_2019, "新增污水处理能力66万吨/日"))
    assert ("新增污水处理能力", 66.0, "万吨/日") in [(i.name, i.value, i.unit) for i in water]
    wage = by_name(read(sentence(SZ_2019, "最低工资标准提高到2200元/月")))
    assert (wage["最低工资标准"].value, wage["最低工资标准"].unit) == (2200.0, "元/月")
    checks = read(sentence(SZ_2024, "9.4批次/千人"))
    assert (9.4, "批次/千人") in [(i.value, i.unit) for i in checks]


# ------------------------------------------------------------------ approximate and bounds
def test_jin_yue_yu_duo_are_approximate() -> None:
    near = read(sentence(SC_2024, "出口增长近30%"))
    assert [(i.value, i.approximate) for i in near] == [(30.0, True)] and near[0].name.endswith("出口")
    about = read(sentence(SC_2019, "减税降费约1.3万亿元"))
    assert [(i.value, i.unit, i.approximate) for i in about] == [(1.3, "万亿元", True)]
    more = by_name(read(sentence(SC_2019, "棚户区住房改造620多万套")))
    assert more["棚户区住房改造"].approximate and more["棚户区住房改造"].unit == "万套"
    assert more["农村危房改造"].approximate is False


def test_more_than_is_a_lower_bound_not_an_approximation() -> None:
    gdp = next(i for i in read(sentence(SC_2024, "国内生产总值超过126万亿元")) if i.unit == "万亿元")
    assert gdp.name == "国内生产总值"
    assert (gdp.value, gdp.bound, gdp.approximate, gdp.kind) == (126.0, "at least", False, "actual")


def test_not_less_than_is_a_requirement_with_its_direction() -> None:
    land = next(i for i in read(sentence(SZ_2021, "供应居住用地不低于3.6平方公里")) if i.value == 3.6)
    assert (land.value, land.unit, land.bound, land.kind) == (3.6, "平方公里", "at least", "requirement")
    time = next(i for i in read(sentence(SC_2023, "不超过120个工作日")) if i.value == 120)
    assert (time.value, time.unit, time.bound) == (120.0, "个工作日", "at most")


def test_targets_of_the_plan_with_bounds() -> None:
    text = sentence(SC_2019, "城镇登记失业率4.5%以内")
    found = by_name(read(text, planned=True, year=2018))
    assert (found["城镇登记失业率"].bound, found["城镇登记失业率"].kind, found["城镇登记失业率"].year) == ("at most", "target", 2018)
    jobs = found["城镇新增就业"]
    assert (jobs.value, jobs.unit, jobs.bound, jobs.approximate) == (1100.0, "万人", "at least", False)
    assert found["国内生产总值"].low == 6.0 and found["国内生产总值"].high == 6.5


# ------------------------------------------------------------------ changes
def test_a_decrease_is_a_negative_change_named_by_what_fell() -> None:
    found = by_name(read(sentence(SZ_2019, "茅洲河污染指数下降47.3%")))
    assert found["茅洲河污染指数"].value == -47.3
    rise = by_name(read(sentence(SC_2024, "技术合同成交额增长28.6%")))
    assert rise["技术合同成交额"].value == 28.6


def test_a_count_after_a_verb_is_not_a_change() -> None:
    """新建和改造提升1200多座公共厕所: 提升 is what was done to the toilets, not a rise of a value."""
    found = by_name(read(sentence(SZ_2019, "1200多座公共厕所")))
    assert (found["公共厕所"].value, found["公共厕所"].approximate) == (1200.0, True)


def test_respectively_gives_each_value_its_own_label() -> None:
    retail = read(sentence(SZ_2024, "通讯器材零售额分别增长45.9%、19.4%"))
    assert [(i.name, i.value) for i in retail][:2] == [("新能源汽车", 45.9), ("通讯器材零售额", 19.4)]
    cuts = [(i.name, i.value) for i in read(sentence(SZ_2019, "外商登记备案时间分别压缩69%、60%")) if i.unit == "%"]
    assert cuts == [("出口通关", -69.0), ("外商登记备案时间", -60.0), ("企业出口退税时间", -20.0)]
    power = read(sentence(SZ_2019, "分别再降20%和10%"))
    assert [(i.name, i.value) for i in power] == [("先进制造业", -20.0), ("工商业用电成本", -10.0)]


# ------------------------------------------------------------------ labels
def test_labels_name_the_thing_counted() -> None:
    found = by_name(read(sentence(FOUNDING, "出台3件行政规范性文件")))
    assert found["行政规范性文件"].value == 3
    gdp = [i for i in read(sentence(SC_2024, "国内生产总值超过126万亿元")) if i.unit == "%"]
    assert [(i.name, i.value) for i in gdp] == [("国内生产总值", 5.2)]  # 增长5.2% after the comma
    opinions = by_name(read(sentence(FOUNDING, "300余条法审意见")))
    assert opinions["法审意见"].value == 300 and opinions["事项"].value == 90
    revenue = read(sentence(SZ_2019, "辖区公共财政收入9102.4亿元"))
    assert {i.name for i in revenue} >= {"辖区公共财政收入", "地方一般公共预算收入"}
    assert not any(i.name in {"同比", "增长", "比上年"} for i in revenue)


def test_a_year_a_date_an_article_a_title_and_a_list_number_are_not_indicators() -> None:
    text = _text(SC_2024)
    head = text[: text.find("一、")]  # ——2024年3月5日在第十四届全国人民代表大会第二次会议上
    assert read(head) == []
    assert all(i.value != 40 for i in read(sentence(SC_2019, "改革开放40周年")))
    assert read(sentence(SC_2019, "56个民族")) == []
    founding = _extraction(FOUNDING)
    quotes = [founding.document.text[i.start : i.end] for i in founding.indicators]
    assert quotes and not any(q[0] in "0123456789" and q[1:5].isdigit() for q in quotes)  # no 2023年 years
    assert not any("年" in q or "月" in q for q in quotes)
    title = sentence(FOUNDING, "天津市科技创新政策要点汇编（2023年版）")  # a figure inside 《》
    assert all(i.value != 2023 for i in read(title))


# ------------------------------------------------------------------ figures outside measures, nested measures
def test_the_targets_paragraph_is_attached_to_the_document() -> None:
    ex = _extraction(SC_2024)
    planned = [(s.start, s.end) for s in ex.sections if s.planned and s.level == 1]
    found = document_indicators(ex.document, ex.measures, planned)
    assert found and all(i.measure_id is None for i in found)
    assert not any(any(m.start <= i.start < m.end for m in ex.measures) for i in found)
    targets = {(i.name, i.value, i.unit, i.approximate, i.bound) for i in found if i.kind == "target"}
    assert ("国内生产总值", 5.0, "%", True, None) in targets
    assert ("城镇新增就业", 1200.0, "万人", False, "at least") in targets
    assert ("单位国内生产总值能耗", -2.5, "%", True, None) in targets
    assert all(i.year == 2024 for i in found if i.kind == "target")


def test_a_figure_in_an_item_belongs_to_the_item_once() -> None:
    text = _text(FOUNDING)
    doc = Document("doc:t", "t.txt", "t", "report", text, "", "测试", 2023)
    start = text.find("2.加强行政规范性文件管理")
    end = text.find("3.落实重大行政决")
    item_start = text.find("2023年度，我局共出台", start)
    item_end = text.find("。", item_start) + 1
    heading = Measure("m:h", doc.id, "h", text[start:end], start, end, "s", 2023, "done")
    item = Measure("m:i", doc.id, "i", text[item_start:item_end], item_start, item_end, "s", 2023, "done", parent_id="m:h")
    found = measure_indicators(doc, [heading, item], [])
    assert [(i.measure_id, i.value) for i in found if i.unit == "件"] == [("m:i", 3.0)]
    assert [(i.measure_id, i.value) for i in found if i.unit == "个"] == [("m:h", 7.0)]


def test_quotes_and_offsets_point_at_the_figure() -> None:
    ex = _extraction(SZ_2023)
    text = ex.document.text
    assert len(ex.indicators) > 50
    for i in ex.indicators:
        figure = text[i.start : i.end]
        assert figure[0].isdigit() and i.quote.endswith(figure) and text[i.end - len(i.quote) : i.end] == i.quote
        number = re.match(r"[0-9０-９]+(?:[.．][0-9０-９]+)?", figure)
        assert number is not None and abs(i.value) == parse_number(number.group(0)), (figure, i.value)
