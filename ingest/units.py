"""Units (organisations, groups and roles, not units of measurement) named in a report, resolved in the
issuer's jurisdiction: the issuer and the short forms it goes by, the areas it stands in (广东省 > 深圳市 >
南山区) and their governments, mentions found in a text (full names kept whole by longest match against a
lexicon of government unit suffixes, never inside 《》 titles or longer words), and which mentions a measure's
own text names as doing the work (the subject of a clause, 由…负责/牵头, 会同…).

Ids come from the qualified full name (区政府 in a 南山区 report → 南山区人民政府), so one organisation is
one unit across the documents of an issuer and a short name is never shared by two issuers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from policykg.graph.model import Unit, stable_id
from policykg.ingest.laws import TITLE_RE

NATION = "中华人民共和国"
PROVINCE_RE = r"(?:北京市|天津市|上海市|重庆市|内蒙古自治区|广西壮族自治区|西藏自治区|宁夏回族自治区|新疆维吾尔自治区|[\u4e00-\u9fff]{2,3}?省)"
ISSUER_RE = re.compile(
    rf"^(?:{NATION})?(?P<prov>{PROVINCE_RE})?(?P<city>(?<!市)[\u4e00-\u9fff]{{2,3}}?市|[\u4e00-\u9fff]{{2,4}}?自治州)?"
    r"(?P<dist>[\u4e00-\u9fff]{1,4}?(?:区|县|旗))?(?P<body>.*)$"
)
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")
CITY_PROVINCE = {  # a city's province, for 省委/省政府 in a city's report
    "深圳": "广东省", "广州": "广东省", "珠海": "广东省", "佛山": "广东省", "东莞": "广东省", "南京": "江苏省",
    "苏州": "江苏省", "无锡": "江苏省", "杭州": "浙江省", "宁波": "浙江省", "成都": "四川省", "武汉": "湖北省",
    "西安": "陕西省", "厦门": "福建省", "福州": "福建省", "青岛": "山东省", "济南": "山东省", "长沙": "湖南省",
    "郑州": "河南省", "合肥": "安徽省", "沈阳": "辽宁省", "大连": "辽宁省", "哈尔滨": "黑龙江省", "长春": "吉林省",
    "昆明": "云南省", "南宁": "广西壮族自治区", "石家庄": "河北省", "太原": "山西省", "南昌": "江西省",
    "贵阳": "贵州省", "兰州": "甘肃省", "海口": "海南省",
}  # fmt: skip
NATIONAL_NAMES = {
    "国务院": "中华人民共和国国务院", "中办": "中共中央办公厅", "国办": "国务院办公厅", "党中央": "中共中央",
    "中共中央": "中共中央", "全国人大常委会": "全国人民代表大会常务委员会", "全国人大": "全国人民代表大会",
    "全国政协": "中国人民政治协商会议全国委员会", "国务院办公厅": "国务院办公厅", "中共中央办公厅": "中共中央办公厅",
}  # fmt: skip
# the bodies an area's short prefix (市, 区 …) takes, with their full forms; longest first in the pattern
NAMED_BODIES = {
    "委常委会": "委常委会", "人大常委会": "人大常委会", "人大及其常委会": "人大常委会", "纪委监委": "纪委监委",
    "人民政府办公厅": "人民政府办公厅", "人民政府办公室": "人民政府办公室", "政府办公厅": "人民政府办公厅",
    "政府办公室": "人民政府办公室", "政府办": "人民政府办公室", "人民政府": "人民政府", "政府": "人民政府",
    "人民法院": "人民法院", "中级人民法院": "中级人民法院", "法院": "人民法院", "人民检察院": "人民检察院",
    "检察院": "人民检察院", "人大": "人大", "政协": "政协", "纪委": "纪委", "监委": "监委", "委": "委",
}  # fmt: skip
DEPT_SUFFIXES = ("委员会", "领导小组", "办公室", "办公厅", "局", "厅", "委", "办", "署", "中心")
LEVEL_CHARS = "省市区县"
# a level character that ends a longer word (城市, 社区, 全省 …) is not a unit prefix
NOT_BEFORE_LEVEL = set("城都超股楼上全本我各地社园景片辖特湾老小禁山范护验贸该节反外跨两一分这此每省市区县新政")
NOT_AFTER_LEVEL = set("场民值长属级里内域领情况际外")
BODY_CHAR = r"(?:(?![的和与及、在对将把为从以是了等并或个年月日级各])[\u4e00-\u9fff])"
BAD_BEFORE_SUFFIX = {
    "局": set("布格大全开当结胜变破定残好"),
    "办": set("举督通创承民主兴开代包去好合协联筹试查交报领帮网上"),
    "厅": set("大客餐展门"),
    "中心": set("为"),
    "署": set("部签公"),
}
CENTRE_OK = re.compile(r"(?:服务|管理|指挥|数据|交易|事务|调度|执法)$")
AFTER_REJECT = re.compile(r"党校|部门|书记|委员(?!会)|常委(?!会)|大院|大楼|副书记|全会|[0-9一二三四五六七八九十]+届")
SUB_SUFFIXES = (
    "法律顾问室", "主要负责人", "领导班子", "党组", "党委", "机关", "法律顾问",
)  # fmt: skip
ROLE_KINDS = {"主要负责人": "role", "领导班子": "group", "法律顾问": "role"}
SELF_REFS = ("我局", "本局", "我委", "本委", "我厅", "本厅", "我办", "本办", "我们")  # 我们: the issuer speaking
AREA_SELF_REFS = {"我区": "区", "本区": "区", "我县": "县", "本县": "县", "我市": "市", "本市": "市", "我省": "省", "本省": "省"}
AREA_REF_NOT_ACTOR = re.compile(r"[的]|生产总值|经济|居民|人口|地区|城市|企业|常住|全社会|GDP|有|在|是|成为|被")
GROUPS = (
    "各级党委和政府", "各地区各部门", "各有关部门", "各相关部门", "各执法部门", "各行政执法部门", "各级行政机关",
    "各级政府", "各区政府", "区直各单位", "区直各部门", "市直各单位", "市直各部门", "各委办局", "各街道", "各镇街",
    "各地区", "各部门", "各单位", "各区", "各镇", "国家部委", "省级政府", "市县政府", "地方各级政府", "各省（区、市）",
    "各省区市", "各地各部门", "各级各部门",
)  # fmt: skip
NATIONAL_GROUPS = {"国家部委", "各省区市", "各省（区、市）"}  # groups of the whole country, whoever names them
ROLES = ("行政机关负责人", "党政主要负责人")


@dataclass
class UnitMention:
    """A unit named at ``[start, end)`` of a text, as ``surface``."""

    unit: Unit
    start: int
    end: int
    surface: str


@dataclass
class Area:
    """An administrative area the issuer stands in: 深圳市 (level 市), 南山区 (level 区)."""

    name: str
    level: str  # 省 | 市 | 区 | 县


@dataclass
class Issuer:
    """The issuing body of a document, the short forms it goes by (市科技局, 我局) and its jurisdiction."""

    unit: Unit
    areas: list[Area] = field(default_factory=list)  # outermost first: 广东省, 深圳市, 南山区
    units: dict[str, Unit] = field(default_factory=dict)  # id → the governments and parents the mentions refer to
    outer: set[str] = field(default_factory=set)  # ids of units above the issuer's level (国务院 for a city)

    @property
    def jurisdiction(self) -> str:
        """The innermost area's name (中华人民共和国 for a national issuer)."""
        return self.areas[-1].name if self.areas else NATION

    @property
    def city(self) -> str | None:
        """The city (or municipality) of the issuer, if any."""
        return next((a.name for a in self.areas if a.level == "市"), None)

    def area(self, level: str) -> Area | None:
        """The issuer's area of ``level`` (省, 市, 区/县)."""
        if level in "区县":
            return next((a for a in reversed(self.areas) if a.level in "区县"), None)
        return next((a for a in self.areas if a.level == level), None)

    def government(self, area: Area | None = None) -> Unit | None:
        """The people's government of ``area`` (default: the issuer's innermost area); the issuer if it is it."""
        area = area or (self.areas[-1] if self.areas else None)
        if area is None:
            return self.unit if self.unit.name == NATIONAL_NAMES["国务院"] else None
        return self.organisation(area.name + "人民政府", self._outer_government(area))

    def _outer_government(self, area: Area) -> str | None:
        i = self.areas.index(area) if area in self.areas else 0
        outer = self.government(self.areas[i - 1]) if i > 0 else None
        return outer.id if outer else None

    def organisation(self, name: str, parent_id: str | None = None, kind: str = "organisation") -> Unit:
        """The unit of the qualified full ``name`` (the issuer itself when it is its name), remembered."""
        if name == self.unit.name:
            return self.unit
        unit_id = stable_id("unit", name)
        known = self.units.get(unit_id)
        if known is None:
            known = self.units[unit_id] = Unit(unit_id, name, kind, parent_id)
        return known


def _areas(issuer: str) -> tuple[list[Area], str]:
    """深圳市南山区司法局 → ([广东省, 深圳市, 南山区], 司法局)."""
    found = ISSUER_RE.match(issuer)
    if found is None or issuer in (NATION + "国务院", "国务院"):
        return [], issuer
    areas: list[Area] = []
    prov, city, dist = found.group("prov"), found.group("city"), found.group("dist")
    body = found.group("body")
    if dist and not body:  # 南山区 alone is not an issuer with a body; keep it whole
        dist, body = None, dist
    if prov in MUNICIPALITIES and not city:
        prov, city = None, prov
    if city and not prov and city[:-1] in CITY_PROVINCE:
        prov = CITY_PROVINCE[city[:-1]]
    if prov:
        areas.append(Area(prov, "区" if prov.endswith("自治区") else "省"))
    if city:
        areas.append(Area(city, "市"))
    if dist:
        areas.append(Area(dist, dist[-1]))
    if areas and areas[0].level == "区":  # an autonomous region acts as a province
        areas[0].level = "省"
    return areas, body


def issuer_unit(issuer: str) -> Issuer:
    """天津市科学技术局 → a Unit with aliases 市科技局, 市科学技术局, 科技局; its areas (天津市) and government."""
    areas, body = _areas(issuer)
    aliases: set[str] = set()
    if areas:
        inner = areas[-1]
        prefix = inner.level
        short = body.replace("科学技术", "科技").replace("人民政府", "政府")
        aliases.update({prefix + body, prefix + short, short, inner.name + short})
        if body == "人民政府":
            aliases.update({prefix + "人民政府", inner.name + "政府"})
            aliases.discard("政府")
    if issuer.startswith(NATION):
        aliases.add(issuer[len(NATION) :])
    # one name whatever the outer areas written: 深圳市南山区司法局 and 南山区司法局 are one unit
    name = areas[-1].name + body if areas and len(areas) > 1 else issuer
    aliases = {a for a in [*aliases, issuer] if len(a) >= 3 and a != name}
    # shortest first; equal lengths in a fixed order (a set's order changes from process to process)
    unit = Unit(stable_id("unit", name), name, "organisation", None, sorted(aliases, key=lambda a: (len(a), a)))
    found = Issuer(unit, areas)
    if areas and body != "人民政府":
        government = found.government()
        unit.parent_id = government.id if government else None
    elif areas and len(areas) > 1:
        unit.parent_id = found._outer_government(areas[-1])
    return found


def _expand(body: str) -> str:
    """The full form of a department's short name: 政府办 → 人民政府办公室, 法院 → 人民法院."""
    return NAMED_BODIES.get(body, body)


def _lexicon_re(issuer: Issuer | None) -> re.Pattern[str]:
    """The mention pattern: self references, groups, roles, national names, then area-prefixed units."""
    area_names = sorted({a.name for a in issuer.areas} if issuer else set(), key=len, reverse=True)
    level = "|".join([*map(re.escape, area_names), f"[{LEVEL_CHARS}]"])
    named = "|".join(sorted(NAMED_BODIES, key=len, reverse=True))
    dept = "|".join(DEPT_SUFFIXES)
    national = "|".join(sorted(NATIONAL_NAMES, key=len, reverse=True))
    return re.compile(
        "|".join(
            [
                rf"(?P<self>{'|'.join(SELF_REFS)})",
                rf"(?P<areaself>{'|'.join(AREA_SELF_REFS)})",
                rf"(?P<group>{'|'.join(sorted(GROUPS, key=len, reverse=True))})",
                rf"(?P<role>{'|'.join(ROLES)})",
                rf"(?P<sub>[局委厅办院](?:{'|'.join(SUB_SUFFIXES)}))(?!会议)",
                rf"(?P<committee>(?P<cl>{level}|中央|中共)委?{BODY_CHAR}{{2,12}}?(?:委员会|领导小组))",
                rf"(?P<national>国家{BODY_CHAR}{{1,8}}?(?:局|委员会|委|署))",
                rf"(?P<nat>{national})",
                rf"(?P<named>(?P<nl>{level})(?P<nb>{named}))",
                rf"(?P<dept>(?P<dl>{level})(?P<db>{BODY_CHAR}{{1,8}}?)(?P<ds>{dept}))",
            ]
        )
    )


def _resolve_area(prefix: str, issuer: Issuer | None) -> tuple[str, Area | None]:
    """The area an area prefix names: 南山区 itself, or 区 → the issuer's district."""
    if issuer is None:
        return prefix, None
    for named in issuer.areas:
        if named.name == prefix:
            return named.name, named
    area = issuer.area(prefix)
    return (area.name, area) if area else (prefix, None)


def _qualified(issuer: Issuer | None, prefix: str, body: str, kind: str = "organisation") -> Unit:
    """A unit named ``prefix`` + ``body`` (区 + 司法局) in the issuer's jurisdiction: 南山区司法局 under its government."""
    name_prefix, area = _resolve_area(prefix, issuer)
    body = _expand(body)
    name = name_prefix + body
    if issuer is None:
        return Unit(stable_id("unit", name), name, kind)
    if area is None:  # a level the issuer does not stand in (市 in a national report): scoped to the issuer
        unit_id = stable_id("unit", issuer.jurisdiction, name)
        return issuer.units.setdefault(unit_id, Unit(unit_id, name, kind))
    if name in issuer.unit.aliases or name == issuer.unit.name:
        return issuer.unit
    if area is not issuer.areas[-1]:
        issuer.outer.add(stable_id("unit", name))
    parent: str | None = None
    if body != "人民政府" and not body.startswith(("委", "人大", "政协", "纪委", "监委")) and body not in ("人民法院", "人民检察院", "中级人民法院"):
        government = issuer.government(area)
        parent = government.id if government else None
    elif body == "人民政府":
        parent = issuer._outer_government(area)
    elif body.startswith("委") and body != "委":
        parent = issuer.organisation(area.name + "委").id
    return issuer.organisation(name, parent, kind)


def _sub_unit(owner: Unit, surface: str, suffix: str) -> Unit:
    """局党委 → a Unit whose parent is ``owner`` (the issuer when written 局党委 in its report)."""
    full = owner.name + suffix
    return Unit(
        stable_id("unit", full),
        full,
        ROLE_KINDS.get(suffix, "organisation"),
        owner.id,
        [alias for alias in [surface] if alias != full],
    )


def _plausible(found: re.Match[str], text: str) -> bool:
    """Whether a lexicon match is a unit and not part of a longer word (城市…, 举办, 省委党校)."""
    start, end = found.span()
    kind = found.lastgroup
    if AFTER_REJECT.match(text, end):
        return False
    prefix = found.group("nl") or found.group("dl") or found.group("cl")
    if prefix and len(prefix) == 1:
        if start > 0 and text[start - 1] in NOT_BEFORE_LEVEL:
            return False
        if end - start > 1 and text[start + 1] in NOT_AFTER_LEVEL:
            return False
    if kind == "national":
        surface = found.group(0)
        suffix = next(x for x in ("委员会", "局", "委", "署") if surface.endswith(x))
        if surface[-len(suffix) - 1] in BAD_BEFORE_SUFFIX.get(suffix, set()):
            return False
    if kind == "dept":
        body, suffix = found.group("db"), found.group("ds")
        if body[-1] in BAD_BEFORE_SUFFIX.get(suffix, set()):
            return False
        if suffix == "办" and re.match(r"[理事法学公好成税证件结案]", text[end : end + 1]):
            return False
        if suffix == "中心" and not CENTRE_OK.search(body):
            return False
        if suffix == "委" and text[end : end + 1] == "员":
            return False
        if re.search(r"[省市区县]", body):  # 省市联动…, 市区两级…: two levels are no unit
            return False
    if kind == "areaself":
        return not AREA_REF_NOT_ACTOR.match(text, end)
    return True


def find_units(text: str, issuer: Issuer | None, offset: int = 0) -> list[UnitMention]:
    """Unit mentions in ``text`` (offsets shifted by ``offset``), resolved to Units in the issuer's jurisdiction.

    Longest match wins (区纪委监委, 区人大常委会); 区委区政府 is two mentions; nothing inside a 《》 title."""
    mentions: list[UnitMention] = []
    titles = [m.span() for m in TITLE_RE.finditer(text)]
    taken: list[tuple[int, int]] = list(titles)

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in taken)

    def add(unit: Unit | None, start: int, end: int) -> None:
        if unit is not None:
            mentions.append(UnitMention(unit, offset + start, offset + end, text[start:end]))
            taken.append((start, end))

    if issuer is not None:
        aliases = sorted([a for a in issuer.unit.aliases if len(a) >= 3] + [issuer.unit.name], key=len, reverse=True)
        for found in re.finditer("|".join(map(re.escape, aliases)), text):
            if not free(*found.span()) or AFTER_REJECT.match(text, found.end()):
                continue
            sub = re.match("|".join(SUB_SUFFIXES), text[found.end() :])
            if sub:  # 市科技局党委 is the issuer's 局党委; 区政府法律顾问室 the government's
                end = found.end() + sub.end()
                alias = found.group(0)
                short = alias[-1] + sub.group(0) if alias[-1] in "局委厅办" else issuer.unit.name + sub.group(0)
                add(_sub_unit(issuer.unit, short, sub.group(0)), found.start(), end)
                continue
            add(issuer.unit, *found.span())
    for found in _lexicon_re(issuer).finditer(text):
        start, end = found.span()
        if not free(start, end) or not _plausible(found, text):
            continue
        kind = found.lastgroup
        surface = found.group(0)
        unit: Unit | None = None
        if kind == "self":
            unit = issuer.unit if issuer else None
        elif kind == "areaself":
            area = issuer.area(AREA_SELF_REFS[surface]) if issuer else None
            unit = issuer.government(area) if issuer and area else None
        elif kind == "group" or kind == "role":
            national = surface in NATIONAL_GROUPS
            government = issuer.government() if issuer and not national else None
            scope = issuer.jurisdiction if issuer and not national else NATION
            parent = government.id if government else stable_id("unit", NATIONAL_NAMES["国务院"]) if national else None
            # 各区 of 深圳市 is not 各区 of 天津市: one id per jurisdiction, the qualified form as an alias
            # a group is named with its jurisdiction (天津市各区, alias 各区); a role keeps its own name
            qualified = scope + surface if scope and scope != NATION else surface
            name, aliases = (qualified, [surface]) if kind == "group" else (surface, [qualified])
            unit = Unit(stable_id("unit", scope, surface), name, kind, parent, [a for a in aliases if a != name])
            if issuer and issuer.areas and national:
                issuer.outer.add(unit.id)
        elif kind == "sub":
            unit = _sub_unit(issuer.unit, surface, surface[1:]) if issuer else None
        elif kind in ("nat", "national"):
            name = NATIONAL_NAMES.get(surface, surface)
            if issuer and name == issuer.unit.name:
                unit = issuer.unit
            else:
                parent = stable_id("unit", NATIONAL_NAMES["国务院"]) if kind == "national" else None
                unit = Unit(stable_id("unit", name), name, "organisation", parent, [surface] if surface != name else [])
                if issuer and issuer.areas:
                    issuer.outer.add(unit.id)
        elif kind == "committee":
            prefix = found.group("cl")
            if prefix in ("中央", "中共"):
                unit = Unit(stable_id("unit", surface), surface, "organisation")
                if issuer and issuer.areas:
                    issuer.outer.add(unit.id)
            else:
                unit = _qualified(issuer, prefix, surface[len(prefix) :])
        elif kind == "named":
            unit = _qualified(issuer, found.group("nl"), found.group("nb"))
        elif kind == "dept":
            unit = _qualified(issuer, found.group("dl"), found.group("db") + found.group("ds"))
        if unit is not None and surface != unit.name and surface not in unit.aliases and kind not in ("self", "areaself"):
            unit.aliases.append(surface)
        add(unit, start, end)
        # 区政府法律顾问室, 市政府党组: a sub-unit of the unit just named
        sub = re.match("|".join(SUB_SUFFIXES), text[end:])
        if unit is not None and sub and kind in ("named", "dept", "nat", "national"):
            mentions.pop()
            taken.pop()
            add(_sub_unit(unit, unit.name + sub.group(0), sub.group(0)), start, end + sub.end())
    mentions.sort(key=lambda mention: mention.start)
    return mentions


# ---------------------------------------------------------------- responsibility

ITEM_MARK = r"(?:[一二三四五六七八九十]{1,2}是|[（(]\d{1,2}[）)]|[①-⑳])"
CLAUSE_START = re.compile(
    rf"(?:^|[。；;！？\n：:，,]|{ITEM_MARK}|\d{{4}}年度?[，,]|年以来[，,]?|同时[，,]?|此外[，,]?|并|还|也)\s*$"
)
AGENT_LEFT = re.compile(r"(?:由|会同|联合|协调|指导|督促)$")
NOT_AGENT_LEFT = re.compile(
    r"(?:在|向|对|经|按照|根据|落实|贯彻|配合|协助|为|给|报请|提请|报送|支持|代表|接受|纳入|通过|印发|召开|参加)$"
)
STRONG_RIGHT = re.compile(r"^(?:统一|具体|专门)?(?:负责|牵头|会同|主持)")
AGENT_NOT_RIGHT = re.compile(
    r"^(?:的|领导|决策|部署|关于|主要领导|坚强领导|《|印发的|制定的|工作部署|要求|精神|全会|批复|批准|"
    r"及[^，。；]{0,14}(?:负责人|人员|干部))"  # 局机关及直属事业单位党政主要负责人: a role, not the unit
)
COORDINATION = re.compile(r"(?:[、和与及]|及其|)")


def _runs(text: str, mentions: list[UnitMention]) -> list[list[UnitMention]]:
    """Mentions joined by 、/和/与/及 or written together (区委区政府) as one run: they act together."""
    runs: list[list[UnitMention]] = []
    for mention in mentions:
        if runs and COORDINATION.fullmatch(text[runs[-1][-1].end : mention.start]):
            runs[-1].append(mention)
        else:
            runs.append([mention])
    return runs


def responsible_units(
    text: str, mentions: list[UnitMention], start: int, outer: set[str] | frozenset[str] = frozenset()
) -> list[UnitMention]:
    """Mentions the text names as doing the work: the subject of a clause (at its start or after an item
    marker, not a 的-possessive nor 在…领导下), 由/会同 X, or X 负责/牵头; coordinated units (区委、区政府) go
    together. Units in ``outer`` (a higher level than the issuer: 国务院 in a city's report) are never
    responsible for the issuer's measure."""
    subjects: list[UnitMention] = []
    for run in _runs(text, mentions):
        first, last = run[0], run[-1]
        left = text[max(start, first.start - 12) : first.start]
        right = text[last.end : last.end + 24]
        if AGENT_NOT_RIGHT.match(right) or NOT_AGENT_LEFT.search(left):
            continue
        if AGENT_LEFT.search(left) or CLAUSE_START.search(left) or STRONG_RIGHT.match(right):
            subjects.extend(mention for mention in run if mention.unit.id not in outer)
    return subjects
