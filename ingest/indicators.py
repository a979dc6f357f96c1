"""Indicators: the figures a report states, found two ways, both read by the same value grammar.

* :func:`measure_indicators` — every figure with a unit inside a measure (现场检查40次 → 现场检查, 40, 次),
  named by the words before it; stored at ingest.
* :func:`series_indicators` — the canonical indicators of 政府工作报告-style reports by name, targets and
  actuals (computed at query time by the across-years code).

``国内生产总值增长6%－6.5%`` in the plan of the report on 2018 is a *target* for 2019 (range 6–6.5 %),
``国内生产总值达到99.1万亿元，增长6.1%`` in its review an *actual* for 2018. Canonical names group their
variants (国内生产总值增长 / 经济增长 / GDP增长). Full- and half-width digits and signs are the same. Every
value keeps its quote and ``[start, end)`` offsets into the stored text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from policykg.graph.model import Document, Indicator, Measure, stable_id

# ---------------------------------------------------------------- the value grammar both extractors share

FULLWIDTH = str.maketrans("０１２３４５６７８９．％－～", "0123456789.%-~")
NUMBER = r"[0-9０-９]+(?:[.．][0-9０-９]+)?"
BOUNDS = {"以上": "at least", "以下": "at most", "以内": "at most"}


def parse_number(raw: str) -> float:
    """A number as written, full- or half-width: ４.５ → 4.5."""
    return float(raw.translate(FULLWIDTH))


def _inside(pos: int, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether ``pos`` falls in one of the ``[start, end)`` spans."""
    return any(s <= pos < e for s, e in spans)


@dataclass(frozen=True)
class Figure:
    """A stated value: ``low`` (the value itself), ``high`` (the end of a range), its bound and whether it is
    approximate (余/多/左右)."""

    low: float
    high: float | None = None
    bound: str | None = None  # "at least" | "at most" | None
    approximate: bool = False


def read_figure(match: re.Match[str]) -> Figure:
    """The figure of a match with the groups ``value``, ``high``, ``approx`` and ``bound``."""
    bound_word = match.group("bound") or ""
    return Figure(
        low=parse_number(match.group("value")),
        high=parse_number(match.group("high")) if match.group("high") else None,
        bound=BOUNDS.get(bound_word),
        approximate=bool(match.group("approx")) or bound_word == "左右",
    )


def _indicator(
    doc: Document, indicator_id: str, measure_id: str | None, name: str, figure: Figure, unit: str,
    start: int, end: int, quote_start: int, year: int | None, kind: str,
) -> Indicator:
    return Indicator(
        id=indicator_id,
        measure_id=measure_id,
        doc_id=doc.id,
        name=name,
        value=figure.low,
        unit=unit,
        start=start,
        end=end,
        quote=doc.text[quote_start:end],
        year=year,
        kind=kind,
        low=figure.low,
        high=figure.high if figure.high is not None else figure.low,
        bound=figure.bound,
        approximate=figure.approximate,
    )  # fmt: skip


# ---------------------------------------------------------------- figures inside measures

MEASURE_FIGURE_RE = re.compile(
    rf"(?P<value>{NUMBER})(?:\s*(?P<pct1>[%％])?\s*[－\-—~～至到]\s*(?P<high>{NUMBER}))?"
    r"(?P<approx>余|多)?(?P<scale>万|亿)?"
    r"(?P<unit>[%％]|个百分点|件次|人次|万元|亿元|万人|万户|万亩|万吨|万斤|亿斤|公里|平方公里|个|项|次|名|件|人|条|篇|期|家|所|批|场|份|户|元|天|小时|倍|座|套|辆|吨|亩)"
    r"(?P<bound>以上|以下|以内|左右)?"
)
NAME_DELIMS = re.compile(r"[，。；：、“”‘’（）《》()\s,;:]")
NAME_TRIM_RIGHT = re.compile(r"(?:达到|达|为|共|约|超过|突破|累计|增加|减少|下降|增长|提高|是)+$")
NAME_TRIM_LEFT = re.compile(r"^(?:我局|本局|其中|全年|共|累计|今年|全市|全国)+")
TARGET_WORDS = re.compile(r"目标|预期|力争|拟|要|计划|确保")


def measure_indicators(
    doc: Document, measures: Iterable[Measure], planned_spans: Sequence[tuple[int, int]]
) -> list[Indicator]:
    """Figures with units inside measures (现场检查40次 → 现场检查, 40, 次), named by the words before them;
    targets inside ``planned_spans`` or after a target word (目标, 力争 …), actuals elsewhere."""
    indicators: list[Indicator] = []
    for measure in measures:
        text = measure.text
        for m in MEASURE_FIGURE_RE.finditer(text):
            unit = m.group("unit").translate(FULLWIDTH)
            after = text[m.end() : m.end() + 1]
            if unit in ("个", "条") and after in "月项":  # 3个月, 条款
                continue
            if re.match(r"[年月日号]", after) or re.match(r"[0-9０-９]", text[m.start() - 1 : m.start()] or "x"):
                continue
            left = text[max(0, m.start() - 30) : m.start()]
            name = NAME_DELIMS.split(left)[-1]
            name = NAME_TRIM_LEFT.sub("", NAME_TRIM_RIGHT.sub("", name))
            if len(name) < 2:
                continue
            # values keep the unit as written (1.3万亿斤 → 1.3, 万亿斤)
            if m.group("scale"):
                unit = m.group("scale") + unit
            start = measure.start + m.start()
            end = measure.start + m.end()
            quote_start = measure.start + max(0, m.start() - len(name) - 2)
            in_plan = _inside(start, planned_spans)
            kind = "target" if in_plan or TARGET_WORDS.search(left[-12:]) else "actual"
            indicators.append(_indicator(
                doc, stable_id("indicator", doc.id, str(start)), measure.id, name, read_figure(m), unit,
                start, end, quote_start, measure.year, kind,
            ))  # fmt: skip
    return indicators


# ---------------------------------------------------------------- canonical series

# a value: 7.5%左右 | 6.5%－7% | 8—8.5% | 1100万人以上 | 1.3万亿斤以上 | 70余人次
SERIES_VALUE = (
    rf"(?P<value>{NUMBER})\s*(?:[%％]\s*)?(?:[－\-—–~～至到]\s*(?P<high>{NUMBER}))?"
    r"(?P<approx>余|多)?(?P<unit>[%％]|个百分点|(?:万亿|万|亿)?(?:人次|件次|人|名|斤|吨|元|个|件|项|户)|万亿|万|亿)"
    r"(?P<bound>以上|以下|以内|左右)?"
)
TOTAL = rf"(?:(?:达到|达|超过|突破|增加到|总量)?\s*{NUMBER}\s*(?:万亿|亿)元\s*[，、,]\s*)?"
GROWTH = TOTAL + r"(?:比上年|同比|全年|实际)?(?:增长|增速)(?:为|达到|达|是)?\s*"
LEVEL = r"(?:全年|年末|年均)?(?:控制在|降到|降至|下降到|保持在|稳定在|为|达到|达|是)?\s*"
COUNT = r"(?:全年|累计)?(?:达到|达|超过|为|共|总数达|总数为|总数)?\s*"


@dataclass(frozen=True)
class Spec:
    """One canonical indicator: the words that name it and what may stand between name and value."""

    name: str
    subject: str  # regex of the names it goes by
    connector: str  # regex between the name and the value
    skip_before: str = ""  # the name preceded by this is something else (单位国内生产总值)
    percent: bool | None = None  # True: only % values, False: never %


SPECS: tuple[Spec, ...] = (
    Spec("国内生产总值增长", r"国内生产总值|GDP|经济(?=增长|实际增长)", GROWTH, r"(?:单位|人均|占|与|对全球)$", True),
    Spec("地区生产总值增长", r"(?:地区|本地|本市)生产总值", GROWTH, r"(?<!全市)(?:区|园|单位|人均|占|前海|河套|深汕)$", True),
    Spec("居民消费价格涨幅", r"居民消费价格(?:涨幅|上涨|同比上涨)|CPI涨幅", LEVEL, "", True),
    Spec("城镇新增就业", r"城镇新增就业(?:人数)?|新增城镇就业", COUNT, "", False),
    Spec("新增就业", r"新增就业(?:人数|岗位)?", COUNT, r"(?:城镇)$", False),
    Spec("城镇调查失业率", r"城镇调查失业率", LEVEL, "", True),
    Spec("城镇登记失业率", r"城镇(?:居民)?登记失业率", LEVEL, "", True),
    Spec("粮食产量", r"粮食(?:总)?产量", r"(?:保持在|稳定在|达到|达|超过|再创新高[，,]?\s*达到?)?\s*", percent=False),
    Spec("能耗强度下降", r"单位国内生产总值能耗|单位GDP能耗|能耗强度", r"(?:下降|降低|降幅)(?:超过)?\s*", percent=True),
    Spec("进出口增长", r"(?:外贸)?进出口(?:总额)?", GROWTH, "", True),
    Spec("地方一般公共预算收入增长", r"地方一般公共预算收入", GROWTH, "", True),
    Spec("规模以上工业增加值增长", r"规模以上工业增加值|规上工业增加值", GROWTH, "", True),
    Spec("固定资产投资增长", r"固定资产投资", GROWTH, "", True),
    Spec("社会消费品零售总额增长", r"社会消费品零售总额", GROWTH, "", True),
    Spec("居民人均可支配收入增长", r"(?:居民)?人均可支配收入", GROWTH, "", True),
    Spec("农村贫困人口减少", r"农村贫困人口", r"(?:减少|减贫)\s*", percent=False),
    # rule-of-law reports (法治政府建设情况报告)
    Spec("行政执法人员", r"行政执法人员(?:总数)?", COUNT, r"(?:新增|培训)$", False),
    Spec("新增行政执法人员", r"新增行政执法人员", r"\s*", percent=False),
    Spec("信访人次", r"(?:接待)?信访(?:人员|群众)?", r"\s*", percent=False),
    Spec("信访事项", r"信访(?:事项|件)", r"\s*", percent=False),
    Spec("信访总量下降", r"信访总量", r"(?:下降|减少)\s*", percent=True),
    Spec("行政复议案件", r"行政复议(?:案件)?", COUNT + r"(?:受理|办理|办结)?\s*", percent=False),
)
# Variants of a canonical name that a user may type (and that the specs group).
ALIASES: dict[str, str] = {
    "经济增长": "国内生产总值增长", "GDP增长": "国内生产总值增长", "GDP": "国内生产总值增长", "国内生产总值": "国内生产总值增长",
    "本地生产总值增长": "地区生产总值增长", "本市生产总值增长": "地区生产总值增长", "地区生产总值": "地区生产总值增长",
    "居民消费价格": "居民消费价格涨幅", "CPI": "居民消费价格涨幅", "居民消费价格上涨": "居民消费价格涨幅",
    "新增城镇就业": "城镇新增就业", "调查失业率": "城镇调查失业率", "登记失业率": "城镇登记失业率",
    "单位国内生产总值能耗": "能耗强度下降", "能耗强度": "能耗强度下降",
    "规上工业增加值增长": "规模以上工业增加值增长", "行政执法人员总数": "行政执法人员",
}
NONE_HAPPENED = re.compile(r"(?:未发生|没有发生|无)(?P<what>行政复议)(?:[、和及][^，。；]{1,8})?案件")
_COMPILED = [
    (spec, re.compile(rf"(?P<subject>{spec.subject})(?P<gap>{spec.connector}){SERIES_VALUE}"), re.compile(spec.skip_before) if spec.skip_before else None)
    for spec in SPECS
]
MULTI_YEAR_TITLE = re.compile(r"十[二三四五]五|五年")
MULTI_YEAR_PARAGRAPH = re.compile(r"过去五年|五年来|“十[二三四五]五”时期|“十[二三四五]五”规划纲要")
MULTI_YEAR = re.compile(r"五年|十二五|十三五|十四五|十五五|累计|年均|两年|三年")


def canonical_name(name: str) -> str:
    """The canonical name for a name or one of its variants (经济增长 → 国内生产总值增长)."""
    name = name.strip().translate(FULLWIDTH)
    return ALIASES.get(name, name)


def _series_indicator(doc: Document, name: str, figure: Figure, unit: str, start: int, end: int, target: bool) -> Indicator:
    """A value of the series ``name``; a target is for the year after the one ``doc`` reviews."""
    year = None if doc.year is None else doc.year + 1 if target else doc.year
    return _indicator(
        doc, stable_id("indicator", doc.id, "series", name, str(start)), None, name, figure, unit,
        start, end, start, year, "target" if target else "actual",
    )  # fmt: skip


def series_indicators(
    doc: Document, planned_spans: Sequence[tuple[int, int]] = (), multi_year_spans: Sequence[tuple[int, int]] = ()
) -> list[Indicator]:
    """The canonical indicators stated in ``doc``: targets inside ``planned_spans`` (the plan of a report)
    or in a sentence on 预期目标, actuals elsewhere. Targets are for the year after ``doc.year``.
    Nothing inside ``multi_year_spans`` (sections on a five-year plan) is a year's value."""
    text = doc.text
    found: dict[tuple[str, int], Indicator] = {}
    for spec, pattern, skip in _COMPILED:
        for m in pattern.finditer(text):
            subject_start = m.start("subject")
            if skip is not None and skip.search(text[max(0, subject_start - 4) : subject_start]):
                continue
            if re.search(r"年均|平均|[。；！？]", m.group("gap")):  # averages over years, another sentence
                continue
            unit = m.group("unit").translate(FULLWIDTH)
            if spec.percent is True and unit != "%":
                continue
            if spec.percent is False and unit in ("%", "个百分点"):
                continue
            after = text[m.end() : m.end() + 1]
            if after and (re.match(r"[0-9０-９.．年月日]", after)):
                continue
            sentence_start = max(text.rfind(c, 0, subject_start) for c in "。；！？\n") + 1
            lead = text[sentence_start:subject_start]
            paragraph = text[text.rfind("\n", 0, subject_start) + 1 : subject_start]
            # five-year totals and plans are not a year's value
            if _inside(subject_start, multi_year_spans) or MULTI_YEAR.search(lead) or MULTI_YEAR_PARAGRAPH.search(paragraph):
                continue
            target = _inside(subject_start, planned_spans) or bool(re.search(r"预期目标|目标是|目标为|力争", lead))
            if re.search(r"过去一年|去年|上年", lead) and not re.search(r"今年|目标", lead):
                target = False
            figure = read_figure(m)
            if figure.high is not None and figure.high < figure.low:
                continue
            key = (spec.name, subject_start)
            if key not in found:
                found[key] = _series_indicator(doc, spec.name, figure, unit, subject_start, m.end(), target)
    for m in NONE_HAPPENED.finditer(text):
        name = "行政复议案件"
        found.setdefault((name, m.start()), _series_indicator(
            doc, name, Figure(0.0), "件", m.start(), m.end(), _inside(m.start(), planned_spans)))  # fmt: skip
    # a value claimed by two names (信访人次 and 信访事项 on 信访事项30余件次) goes to the longer name
    by_end: dict[int, Indicator] = {}
    for ind in sorted(found.values(), key=lambda i: (i.end, i.start)):
        prev = by_end.get(ind.end)
        if prev is None or ind.start > prev.start:
            by_end[ind.end] = ind
    # a target restated further on (城镇调查失业率5.5%左右 in the plan and in its explanation) counts once
    seen: set[tuple[object, ...]] = set()
    out: list[Indicator] = []
    for ind in sorted(by_end.values(), key=lambda i: i.start):
        value_key = (ind.name, ind.year, ind.kind, ind.low, ind.high, ind.bound, ind.approximate, ind.unit)
        if value_key not in seen:
            seen.add(value_key)
            out.append(ind)
    return out


def report_spans(sections: Sequence[tuple[int, int, str, bool]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(planned spans, multi-year spans) from a report's top-level sections ``(start, end, title, planned)``."""
    planned = [(s, e) for s, e, _, p in sections if p]
    multi = [(s, e) for s, e, t, p in sections if p and MULTI_YEAR_TITLE.search(t)]
    return planned, multi
