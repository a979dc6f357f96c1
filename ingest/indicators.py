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
from dataclasses import dataclass, replace

from policykg.graph.model import Document, Indicator, Measure, stable_id

# ---------------------------------------------------------------- the value grammar both extractors share

FULLWIDTH = str.maketrans("０１２３４５６７８９．％－～", "0123456789.%-~")
NUMBER = r"[0-9０-９]+(?:[.．][0-9０-９]+)?"
BOUNDS = {"以上": "at least", "以下": "at most", "以内": "at most"}
RANGE = r"[－\-—–~～至到]"
# the value, a range's end and 余/多 (6%－6.5%, 70余); then, after the unit, its bound or approximation
VALUE_HEAD = rf"(?P<value>{NUMBER})\s*(?:[%％]\s*)?(?:{RANGE}\s*(?P<high>{NUMBER}))?(?P<approx>余|多)?"
BOUND_TAIL = r"(?P<bound>以上|以下|以内|左右|上下)?"


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
        approximate=bool(match.group("approx")) or bound_word in ("左右", "上下"),
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


# ---------------------------------------------------------------- figures in a report's running text

# Units, longest first so that 个百分点 wins over 个 and 吨/日 over 吨; a scale (万, 亿 …) may stand before any
# of them (30万吨/日 → 万吨/日, 1.3万亿斤 → 万亿斤) or alone (脱贫人口务工规模超过3300万).
SCALE = r"万亿|千亿|百亿|十亿|亿|千万|百万|十万|万|千|百"
UNIT_WORDS = (
    "微克/立方米",
    "个百分点", "百分点", "个工作日", "工作日", "平方公里", "平方米", "立方米", "千瓦时", "千瓦", "标准箱", "标箱",
    "人次", "件次", "批次", "户次", "架次", "场次", "班次", "车次", "艘次", "课时", "学时", "小时", "公里", "千米",
    "公顷", "公斤", "千克", "美元", "%", "％",
    "次", "元", "吨", "斤", "亩", "米", "宗", "种", "个", "项", "家", "件", "条", "人", "名", "场", "篇", "份", "户",
    "所", "座", "套", "辆", "台", "部", "张", "期", "批", "轮", "起", "处", "间", "床", "支", "头", "株", "例", "天",
    "倍", "栋", "艘", "架", "只", "本", "册", "位", "重量箱", "岁",
)
PER = r"/(?:千人|万人|百人|人|户|日|天|年|月|小时|吨|亩|平方米|立方米|千瓦时|公里)"  # 万吨/日, 元/人, 批次/千人
UNIT = "(?:" + "|".join(re.escape(u) for u in UNIT_WORDS) + f")(?:{PER})?"
FIGURE_RE = re.compile(
    VALUE_HEAD
    + rf"(?:(?P<scale>{SCALE})?(?P<approx1>余|多)?(?P<scale2>亿)?(?P<unit>{UNIT})|(?P<bare>{SCALE})(?![0-9０-９]))"
    + r"(?P<approx2>余|多)?"
    + BOUND_TAIL
)
# a unit followed by these letters is part of a word, not a unit (3个月, 2条例, 5部门, 3家庭)
NOT_UNIT_BEFORE = {
    "个": "月人体", "条": "例款", "部": "门署委分", "人": "民大口", "名": "称单额", "元": "素旦", "场": "所景地",
    "次": "数", "期": "间刊货", "家": "庭", "种": "植子类养", "所": "有属在以得", "处": "理置罚",
    "起": "草来到", "批": "准复示", "件": "事", "台": "湾", "本": "地级", "间": "隔", "支": "持出付撑",
    "头": "部", "米": "粮", "例": "如", "天": "津然", "份": "额", "座": "谈", "套": "餐",
}
NOT_BEFORE = re.compile(r"[0-9０-９.．A-Za-zＡ-Ｚａ-ｚ第]$")  # C919, 第3批, 1.2.3
NOT_AFTER = re.compile(r"^[0-9０-９A-Za-z]")  # 5G基站, 3.0版 are names, not figures
NOT_AFTER_BARE = re.compile(r"^[年月日号时届周代版级季]")  # 1万年, 3个月: a time, not a count
DELIMS = "，。；：！？、\n（）()“”‘’《》,;:!?"
# the words between a name and its figure, peeled off from the right (城镇调查失业率平均为5.2% → 平均, 为)
LEVEL_TO = r"(?:提高|提升|增加|增长|扩大|上升|下降|降低|减少|压减|压缩|精简|缩短|缩小|降|减|增|升)(?:到|至)"
PREFIX_RE = re.compile(
    r"(?:不低于|不少于|不超过|不高于|不到|至少|最多|低于|高于|将近|接近|大约|近|约|逾|超过|突破|超|"
    r"控制在|保持在|稳定在|维持在|" + LEVEL_TO + r"|"
    r"净减少|净增加|净增|下降|减少|降低|下滑|回落|缩小|缩短|压减|压缩|精简|削减|(?<![消缩削])减|(?<![下升])降|"
    r"增长|增加|提高|提升|上升|扩大|(?<![新净])增|"
    r"拟按|(?<!拟)按|(?<![模比])拟|(?<![主重需只])要|(?<![即])将|力争|争取|确保|预计|上涨|"
    r"达到|(?<![发到])达|(?<![行认])为|(?<!于)是|共计|(?<![公])共|累计|总计|合计|分别|再|了|已|(?<![人年])均|平均|幅度|"
    r"同比|比上年|比去年|比上年末|(?:由|从)?每(?:千人|万人|百人|月|年|人|日)|(?:由|从)人均|(?:由|从)原来的|由|从|继续|已|各)$"
)
APPROX_WORDS = {"近", "将近", "接近", "大约", "约"}
AT_LEAST_WORDS = {"不低于", "不少于", "至少", "高于", "逾", "超过", "超", "突破"}
AT_MOST_WORDS = {"不超过", "不高于", "最多", "低于", "不到", "控制在"}
REQUIREMENT_WORDS = {"不低于", "不少于", "不超过", "不高于", "至少", "最多"}
DECREASE_WORDS = {"净减少", "下降", "减少", "降低", "下滑", "回落", "缩小", "缩短", "压减", "压缩",
    "精简", "削减", "减", "降"}
INCREASE_WORDS = {"净增加", "净增", "增长", "增加", "提高", "提升", "上升", "上涨", "扩大", "增"}
NAME_TRIM_LEFT = re.compile(
    r"^(?:[0-9０-９]{4}年(?:度|以来|末|底)?|的|其中|全年|今年|去年末|去年|当年|年内|年末|全市|全区|全省|全国|我局|本局|我市|我区|我省|"
    r"本市|本区|共|累计|合计|总计|同比|比上年|预计|力争|努力|确保|争取|目标|计划|拟|要|将|并|还|又|已|均|先后|再)+"
)
# a verb that opens a name and leaves the thing counted (办理行政复议案件12宗 → 行政复议案件)
ACTION_VERBS = re.compile(
    r"^(?:办理|受理|办结|审结|审理|审查|审核|审议|处理|处置|化解|调处|接待|办|出台|制定|修订|制修订|发布|印发|公布|"
    r"公开|主动公开|清理|废止|评估|完成|开展|组织|举办|召开|培训|检查|抽查|查处|查办|立案|办件|新建|建成|建设|建立|安排|"
    r"培育|引进|认定|发放|兑现|减免|吸引|吸纳|帮助|带动|安置|聘请|配备|刊发|发行|发(?![展挥生现]))"
)
# a name ending in one of these verbs counts what follows the unit (惠及1100多万学生 → 学生)
VERB_END = re.compile(
    r"(?:惠及|覆盖|带动|帮助|吸纳|服务|培养|引进|新增|新建|建成|出台|制定|发布|完成|办理|受理|审结|组织|开展|举办|召开|"
    r"安排|发行|增发|形成|达成|签约|签订|推出|设立|组建|首个|认定|培育|改造|推进|对|了|的|等|和|及|与)$"
)
NAME_TRIM_RIGHT = re.compile(r"(?:等|的|预期目标|目标|安排|发行|实现|达成|拟|要|将|可|又|首次|继续|已|现行)+$")
GENERIC_NAMES = {"总额", "总量", "总数", "规模", "占比", "比重"}  # said of the subject named before
TAIL_NOUN = re.compile(r"(?:“[^”\n]{1,10}”)?[\u4e00-\u9fff]{2,12}")  # 32个“两重”项目
TAIL_STOP = re.compile(
    r"的|等|入选|应享|享受|都|大幅|全面|并(?![购])|减少|增加|提高|下降|降低|缩短|压缩|增长|排名|受益|支持|用于|参与|提出|进行|开展|实现|得到|获得|覆盖|纳入|完成|通过|以上|左右|以下|以内|获|到|在|于|和|与|及|"
    r"被|全部|提供|惠及|落地|投入|建成|入驻|上市|落户|集聚|聚集|参加|开工|竣工|改造|同比|比上年"
)
TARGET_LEAD = re.compile(r"目标|预期|力争|确保|(?<![“模虚比])拟|(?:今年|明年)(?:要|将|力争)")
REQUIREMENT_LEAD = re.compile(r"应当|必须|不得|原则上|须|要求")


@dataclass(frozen=True)
class Reading:
    """A figure found in running text, before it is named and typed."""

    start: int  # offsets into the document text
    end: int
    value: float
    high: float | None
    unit: str
    prefix: tuple[str, ...]  # the words peeled between name and value, innermost last (下降, 近)
    suffix: str  # 以上 | 以下 | 以内 | 左右 | 上下 | ""
    approx: bool  # 余 / 多
    left: str  # the clause before the figure, without ``prefix``
    wide: str  # ``left`` with the clause before a quoted phrase that opens it (…综合整治“散乱污危”企业)
    tail: str  # the thing counted after the unit (出台3件行政规范性文件 → 行政规范性文件)


EXCLUDED_RE = re.compile(r"《[^《》\n]{0,80}》|[〔\[［][0-9０-９]{4}[〕\]］][0-9０-９]+号|56个民族")


def _excluded_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Titles (《…》), bracketed document numbers (〔2023〕5号) and set phrases (56个民族) near ``[start, end)``:
    not indicators."""
    return [(m.start(), m.end()) for m in EXCLUDED_RE.finditer(text, max(0, start - 100), end + 100)]


def _clause_start(text: str, pos: int, floor: int) -> int:
    """Where the clause holding ``pos`` begins: after the last delimiter, never before ``floor``."""
    i = pos
    while i > floor and text[i - 1] not in DELIMS:
        i -= 1
    return i


def read_figures(text: str, start: int = 0, end: int | None = None) -> list[Reading]:
    """Every figure with a unit in ``text[start:end]``, read by the value grammar (FIGURE_RE): its value or
    range, unit (with scale), approximation, bound words and the words around it."""
    end = len(text) if end is None else end
    excluded = _excluded_spans(text, start, end)
    out: list[Reading] = []
    floor = start
    for m in FIGURE_RE.finditer(text, start, end):
        s, e = m.start(), m.end()
        unit = m.group("unit") or m.group("bare")
        scale = (m.group("scale") or "") + (m.group("scale2") or "")  # 4万多亿元 → 万亿元
        after = text[e : e + 1]
        if NOT_BEFORE.search(text[max(0, s - 1) : s]) or _inside(s, excluded):
            continue
        if not m.group("bound") and (
            NOT_AFTER.match(after) or (NOT_AFTER_BARE.match(after) and (m.group("bare") or unit == "个"))
        ):
            continue
        if m.group("unit") and not m.group("approx2") and not m.group("bound") and after in NOT_UNIT_BEFORE.get(unit, ""):
            continue
        if m.group("bare") and after in "个项件条":  # 3万个 is read with its unit
            continue
        if m.group("unit") == "岁" and (m.group("bound") or after in "的及和至到"):  # 60岁以上人口: an age group
            continue
        unit = (scale + unit).translate(FULLWIDTH)
        cs = _clause_start(text, s, floor)
        left = text[cs:s]
        prefix: list[str] = []
        while (p := PREFIX_RE.search(left)) is not None and p.start() < len(left):
            prefix.insert(0, p.group(0))
            left = left[: p.start()]
        wide = left
        ws = cs
        while text[ws - 1 : ws] == "”" and (q := text.rfind("“", floor, ws)) > floor:
            ws = _clause_start(text, q, floor)
            wide = text[ws:cs] + left
        if left.endswith("每") or re.match(r"相当于|[0-9０-９]+年前", left):  # 每增长1个百分点, 相当于5年前1.5个百分点
            floor = e
            continue
        tail = ""
        after_of = e + 1 if text[e : e + 1] == "的" else e  # 设立首个150亿元的政策性纾困资金
        if unit not in ("%", "个百分点", "百分点", "倍") and (t := TAIL_NOUN.match(text, after_of, min(end, after_of + 12))):
            words = t.group(0)
            stop = TAIL_STOP.search(words)
            if stop is not None and stop.start() == 0 and len(words) >= 4:  # 4次降低存款准备金率: the act counted
                stop = TAIL_STOP.search(words, stop.end())
            tail = words[: stop.start()] if stop is not None else words
        out.append(Reading(
            start=s, end=e, value=parse_number(m.group("value")),
            high=parse_number(m.group("high")) if m.group("high") else None, unit=unit, prefix=tuple(prefix),
            suffix=m.group("bound") or "", approx=bool(m.group("approx") or m.group("approx1") or m.group("approx2")), left=left, wide=wide,
            tail=tail if len(tail) >= 2 else "",
        ))  # fmt: skip
        floor = e
    return out


def _subject(left: str) -> str:
    """The name in the words before a figure: what is counted (办理行政复议案件 → 行政复议案件)."""
    if re.match(r"比|同比", left):  # 比上年增加1.1万亿元: a change of the subject before
        return ""
    name = NAME_TRIM_LEFT.sub("", left.strip())
    if len(trimmed := NAME_TRIM_RIGHT.sub("", name)) >= 2:
        name = trimmed
    if (year := re.search(r"[0-9０-９]{4}年(?:度|以来)?", name)) and len(name) - year.end() >= 2:
        name = name[year.end() :]  # 专栏及时公开2023年局长办公会议题 → 局长办公会议题
    if len(name) > 12:  # a long clause: the words after its last 等/的/对 (微信公众号等平台主动公开政府信息)
        cut = max(name.rfind(c) for c in "等的对在向把从")
        name = name[cut + 1 :] if 0 <= cut < len(name) - 4 else name[-18:]
    while (verb := ACTION_VERBS.match(name)) and len(name) - verb.end() >= 2:
        name = NAME_TRIM_LEFT.sub("", name[verb.end() :])
    return name


def _respectively(text: str, readings: Sequence[Reading], start: int, end: int) -> dict[int, tuple[str, tuple[str, ...]]]:
    """Names of figures in "A、B分别增长x%、y%": each value gets its own item, by position, and the words
    before the first value (增长, 下降 …) hold for all of them."""
    names: dict[int, tuple[str, tuple[str, ...]]] = {}
    for m in re.compile("分别").finditer(text, start, end):
        head_start = _clause_start(text, m.start(), 0)
        if text[head_start - 1 : head_start] == "、":  # the list itself is cut by 、: go back to the clause
            head_start = max(text.rfind(c, 0, m.start()) for c in "，。；：！？\n") + 1
        head = re.sub(r"(?:要|将|均|也|还|年均|全年|今年)$", "", text[head_start : m.start()])
        clause_end = min((i for i in (text.find(c, m.end(), end) for c in "，。；！？\n") if i >= 0), default=end)
        values = [r for r in readings if m.end() <= r.start < clause_end]
        if len(values) < 2:
            continue
        items = [i for i in re.split(r"、", head) if i]
        if len(items) != len(values) and len(items) == len(values) - 1 and "和" in items[-1]:
            items = [*items[:-1], *items[-1].split("和", 1)]
        if len(items) != len(values):
            continue
        for item, reading in zip(items, values, strict=True):
            names[reading.start] = (_subject(re.sub(r"^(?:对|在|向|与)", "", item)), values[0].prefix)
    return names


def _kind(text: str, reading: Reading, planned: bool) -> str:
    """target (a plan or a goal), requirement (a rule: 不低于/不少于 …) or actual."""
    sentence_start = max(text.rfind(c, 0, reading.start) for c in "。；！？\n") + 1
    lead = text[sentence_start : reading.start]
    words = set(reading.prefix)
    if planned or TARGET_LEAD.search(lead):
        return "target"
    if words & REQUIREMENT_WORDS or REQUIREMENT_LEAD.search(lead):
        return "requirement"
    return "actual"


def figure_of(reading: Reading, kind: str) -> Figure:
    """Value, range, bound and approximation of a reading; a decrease (下降53%) is a negative change."""
    words = set(reading.prefix)
    approximate = reading.approx or bool(words & APPROX_WORDS) or reading.suffix in ("左右", "上下")
    bound = BOUNDS.get(reading.suffix)
    if words & AT_LEAST_WORDS:
        bound = "at least"
    elif words & AT_MOST_WORDS:
        bound = "at most"
    sign = -1.0 if words & DECREASE_WORDS and not words & INCREASE_WORDS else 1.0
    low = sign * reading.value
    high = None if reading.high is None else sign * reading.high
    if high is not None and high < low:
        low, high = high, low
    return Figure(low=low, high=high, bound=bound, approximate=approximate)


def _indicators_in(
    doc: Document, start: int, end: int, measure: Measure | None, planned_spans: Sequence[tuple[int, int]],
    skip: Sequence[tuple[int, int]] = (),
) -> list[Indicator]:
    """The indicators stated in ``doc.text[start:end]``, attached to ``measure`` (None: to the document)."""
    text = doc.text
    readings = [r for r in read_figures(text, start, end) if not _inside(r.start, skip)]
    respectively = _respectively(text, readings, start, end)
    out: list[Indicator] = []
    previous: tuple[str, int] | None = None  # the last name and the end of its sentence
    for reading in readings:
        name = _subject(reading.left)
        if len(name) <= 2 and reading.wide != reading.left:  # 综合整治“散乱污危”企业9329家
            name = _subject(reading.wide)
        if reading.start in respectively:
            name, prefix = respectively[reading.start]
            if not reading.prefix or reading.prefix == ("和",):
                reading = replace(reading, prefix=prefix)
        elif reading.tail and (
            len(name) <= 2 or ACTION_VERBS.fullmatch(name) or VERB_END.search(reading.left)
            or set(reading.prefix) & (DECREASE_WORDS | INCREASE_WORDS)
        ):
            # 出台3件行政规范性文件, 新建和改造提升1200多座公共厕所: the thing counted follows; the verb is
            # the action done to it, not a change of its value
            name = reading.tail
            reading = replace(reading, prefix=tuple(w for w in reading.prefix if w not in DECREASE_WORDS | INCREASE_WORDS))
        sentence_end = min((i for i in (text.find(c, reading.start) for c in "。；！？\n") if i >= 0), default=len(text))
        if len(name) < 2 and previous is not None and previous[1] == sentence_end:
            name = previous[0]  # 国内生产总值超过126万亿元，增长5.2% → 国内生产总值
        elif name in ("新增", "净增") and previous is not None and previous[1] == sentence_end:
            name = previous[0] + name  # 居民储蓄存款余额增长8.5%，新增4万多亿元
        elif name in GENERIC_NAMES and previous is not None and previous[1] == sentence_end:
            name = previous[0] + name  # 服务贸易进出口增长20.0%、总额1347.7亿美元 → 服务贸易进出口总额
        if len(name) < 2:
            continue
        previous = (name, sentence_end)
        planned = _inside(reading.start, planned_spans)
        kind = _kind(text, reading, planned)
        if measure is not None:
            year = measure.year
        else:
            year = None if doc.year is None else doc.year + 1 if planned else doc.year
        quote_start = max(_clause_start(text, reading.start, start), reading.start - 40)
        out.append(_indicator(
            doc, stable_id("indicator", doc.id, str(reading.start)), measure.id if measure else None, name,
            figure_of(reading, kind), reading.unit, reading.start, reading.end, quote_start, year, kind,
        ))  # fmt: skip
    return out


def _innermost(measures: Iterable[Measure]) -> list[tuple[Measure, list[tuple[int, int]]]]:
    """Each measure with the spans of the measures nested in it (a heading's 一是/二是 items): a figure
    belongs to the innermost measure that holds it."""
    ordered = sorted(measures, key=lambda m: (m.start, -m.end))
    return [
        (m, [(c.start, c.end) for c in ordered if c is not m and m.start <= c.start and c.end <= m.end and (c.start, c.end) != (m.start, m.end)])
        for m in ordered
    ]


def measure_indicators(
    doc: Document, measures: Iterable[Measure], planned_spans: Sequence[tuple[int, int]]
) -> list[Indicator]:
    """Figures with units inside measures (现场检查40次 → 现场检查, 40, 次), named by what they count;
    targets inside ``planned_spans`` or after a target word (目标, 力争 …), requirements (不低于 …),
    actuals elsewhere. A figure nested in a measure's item belongs to the item."""
    indicators: list[Indicator] = []
    seen: set[int] = set()
    for measure, nested in _innermost(measures):
        for ind in _indicators_in(doc, measure.start, measure.end, measure, planned_spans, nested):
            if ind.start not in seen:
                seen.add(ind.start)
                indicators.append(ind)
    return indicators


def document_indicators(
    doc: Document, measures: Iterable[Measure], planned_spans: Sequence[tuple[int, int]]
) -> list[Indicator]:
    """Figures outside every measure (a report's targets paragraph, its summary of the year), attached to the
    document (``measure_id`` None); the title line is skipped."""
    spans = sorted((m.start, m.end) for m in measures)
    first_break = doc.text.find("\n")
    body_start = first_break + 1 if first_break >= 0 else 0
    return _indicators_in(doc, body_start, len(doc.text), None, planned_spans, spans)


# ---------------------------------------------------------------- canonical series

# a value: 7.5%左右 | 6.5%－7% | 8—8.5% | 1100万人以上 | 1.3万亿斤以上 | 70余人次
SERIES_VALUE = (
    VALUE_HEAD
    + r"(?P<unit>[%％]|个百分点|(?:万亿|万|亿)?(?:人次|件次|人|名|斤|吨|元|个|件|项|户)|万亿|万|亿)"
    + BOUND_TAIL
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
