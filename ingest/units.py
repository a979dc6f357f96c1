"""Units (organisations, groups and roles, not units of measurement) named in a report: the issuer and the
short forms it goes by, mentions found in a text and resolved against the issuer, and which of them stand as
the subject of a clause (the units responsible for a measure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policykg.graph.model import Unit, stable_id

CITY_RE = re.compile(r"^((?:北京|天津|上海|重庆|[\u4e00-\u9fff]{2,3}?)(?:市|省))")
NATIONAL_NAMES = {"国务院": "中华人民共和国国务院", "中办": "中共中央办公厅", "国办": "国务院办公厅"}
SELF_REFS = ("我局", "本局", "我委", "本委", "我厅", "本厅", "我办", "本办")

# Sub-units and roles of the issuing body: 局党委 of 市科技局.
SUB_UNIT_RE = r"(?:[局委厅办院](?:党委|党组|机关|主要负责人|领导班子|办公室|法律顾问))"
ROLE_AFTER = re.compile(r"党委|党组|机关|主要负责人|领导班子")
ROLE_NAMES = {"主要负责人": "role", "领导班子": "group", "机关": "organisation", "党委": "organisation"}
UNIT_RE = re.compile(
    "|".join(
        [
            r"(?P<self>我局|本局|我委|本委|我厅|本厅)",
            rf"(?P<sub>{SUB_UNIT_RE})(?!会议)",
            r"(?P<committee>(?:中央|市委|省委|区委|国务院)[\u4e00-\u9fff]{2,12}?(?:委员会|领导小组))",
            r"(?P<group>各区|各级政府|各地区各部门|各地区|各部门|各级党委和政府|各有关部门|各区政府)",
            r"(?P<named>(?:市委|市政府|省委|省政府|区政府|市人大常委会|国务院办公厅|国务院|中办|国办|中共中央办公厅|市人民政府))",
            r"(?P<bureau>(?<![\u4e00-\u9fff])(?:[市区省县](?!场|民|值|政|委|长|属|级|里|内|域|领|区)|国家)[\u4e00-\u9fff]{1,6}?(?:局|委|厅|办))(?![\u4e00-\u9fff]*?[员])",
        ]
    )
)
SUBJECT_LEFT = re.compile(r"(?:^|[。；;！？\n]|[，,]|\d{4}年度?[，,]|年以来[，,]?)\s*$")


@dataclass
class UnitMention:
    """A unit named at ``[start, end)`` of a text, as ``surface``."""

    unit: Unit
    start: int
    end: int
    surface: str


@dataclass
class Issuer:
    """The issuing body of a document and the short forms it goes by (市科技局, 我局)."""

    unit: Unit
    city: str | None


def issuer_unit(issuer: str) -> Issuer:
    """天津市科学技术局 → a Unit with aliases 市科技局, 市科学技术局, 科技局, 我局, 本局."""
    city_match = CITY_RE.match(issuer)
    city = city_match.group(1) if city_match else None
    aliases: set[str] = set()
    rest = issuer[len(city) :] if city else issuer
    if city:
        prefix = city[-1]  # 市 / 省
        aliases.add(prefix + rest)
        short = rest.replace("科学技术", "科技").replace("人民政府", "政府")
        aliases.update({prefix + short, short})
        if rest == "人民政府":
            aliases.update({city + "政府", prefix + "政府", city.rstrip("市省") + "市政府"})
    if issuer.startswith("中华人民共和国"):
        aliases.add(issuer[len("中华人民共和国") :])
    aliases = {a for a in aliases if len(a) >= 3 and a != issuer}
    # shortest first; equal lengths in a fixed order (a set's order changes from process to process)
    unit = Unit(stable_id("unit", issuer), issuer, "organisation", None, sorted(aliases, key=lambda a: (len(a), a)))
    return Issuer(unit, city)


def _qualify(name: str, issuer: Issuer) -> str:
    """市委 in a Tianjin report is 天津市委."""
    if issuer.city and name[0] == issuer.city[-1] and not name.startswith(issuer.city):
        return issuer.city + name[1:]
    return name


def find_units(text: str, issuer: Issuer | None, offset: int = 0) -> list[UnitMention]:
    """Unit mentions in ``text`` (offsets shifted by ``offset``), resolved to Units."""
    mentions: list[UnitMention] = []
    issuer_aliases = set(issuer.unit.aliases) if issuer else set()
    alias_re = (
        re.compile(
            "|".join(re.escape(alias) for alias in sorted(issuer_aliases, key=len, reverse=True) if len(alias) >= 3)
        )
        if issuer and any(len(alias) >= 3 for alias in issuer_aliases)
        else None
    )
    taken: list[tuple[int, int]] = []
    if alias_re is not None and issuer is not None:
        for found in alias_re.finditer(text):
            # 市科技局党委 is the issuer's 局党委
            role = ROLE_AFTER.match(text, found.end())
            if role:
                sub = _sub_unit(found.group(0)[-1] + role.group(0), issuer)
                mentions.append(
                    UnitMention(sub, offset + found.start(), offset + role.end(), text[found.start() : role.end()])
                )
                taken.append((found.start(), role.end()))
                continue
            mentions.append(UnitMention(issuer.unit, offset + found.start(), offset + found.end(), found.group(0)))
            taken.append((found.start(), found.end()))
    for found in UNIT_RE.finditer(text):
        if any(start < found.end() and found.start() < end for start, end in taken):
            continue
        kind = found.lastgroup or ""
        surface = found.group(0)
        unit: Unit | None
        if kind == "self":
            unit = issuer.unit if issuer else None
        elif kind == "sub":
            unit = _sub_unit(surface, issuer) if issuer else None
        elif kind == "group":
            unit = Unit(stable_id("unit", surface), surface, "group")
        else:
            name = NATIONAL_NAMES.get(surface) or (_qualify(surface, issuer) if issuer else surface)
            if issuer and name == issuer.unit.name:
                unit = issuer.unit
            else:
                unit = Unit(
                    stable_id("unit", name), name, "organisation", None, [surface] if surface != name else []
                )
        if unit is not None:
            mentions.append(UnitMention(unit, offset + found.start(), offset + found.end(), surface))
    mentions.sort(key=lambda mention: mention.start)
    return mentions


def _sub_unit(surface: str, issuer: Issuer | None) -> Unit:
    """局党委 → a Unit whose parent is the issuer."""
    role = surface[1:]
    name = "局" + role if surface[0] == "局" else surface
    if issuer is None:
        return Unit(stable_id("unit", name), name, ROLE_NAMES.get(role, "organisation"))
    return Unit(
        stable_id("unit", issuer.unit.name, name),
        name,
        ROLE_NAMES.get(role, "organisation"),
        issuer.unit.id,
        [issuer.unit.name + role],
    )


def responsible_units(text: str, mentions: list[UnitMention], start: int) -> list[UnitMention]:
    """Mentions standing as the subject of a clause (at its start), in order of appearance."""
    subjects: list[UnitMention] = []
    for mention in mentions:
        left = text[max(start, mention.start - 12) : mention.start]
        if SUBJECT_LEFT.search(left):
            subjects.append(mention)
    return subjects
