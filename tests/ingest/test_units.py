"""Units resolved in the issuer's jurisdiction, kept whole, and a measure's responsible units from its own text.

Sentences come from the shared corpus (read from its files). The corpus holds no district report, so the
district forms the issue lists (区政府 of 南山区, 区纪委监委, 区委区政府 …) are checked on those short phrases."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from policykg.graph.model import Extraction, stable_id
from policykg.ingest.metadata import Metadata
from policykg.ingest.normalize import normalize_text
from policykg.ingest.pipeline import prepare
from policykg.ingest.units import Issuer, find_units, issuer_unit, responsible_units
from tests.conftest import FOUNDING

SHENZHEN_2016 = "reports/gov-work/shenzhen-gwr-2016.txt"
STATE_COUNCIL_2024 = "reports/gov-work/state-council-gwr-2024.txt"


def _text(corpus: Path, path: str) -> str:
    return normalize_text((corpus / path).read_text(encoding="utf-8"))


def _sentence(text: str, pattern: str) -> str:
    """The sentence (。-delimited) of ``text`` holding ``pattern``."""
    found = re.search(rf"[^。\n]*{pattern}[^。\n]*。", text)
    assert found is not None, pattern
    return found.group(0)


def _names(text: str, issuer: Issuer) -> list[str]:
    return [m.unit.name for m in find_units(text, issuer)]


@pytest.fixture(scope="module")
def founding(corpus: Path) -> Extraction:
    return prepare(corpus / FOUNDING, Metadata(issuer="天津市科学技术局", year=2023)).extraction


def test_issuer_areas_and_government() -> None:
    bureau = issuer_unit("天津市科学技术局")
    assert [a.name for a in bureau.areas] == ["天津市"]
    assert {"市科技局", "市科学技术局", "科技局"} <= set(bureau.unit.aliases)
    assert bureau.unit.parent_id == stable_id("unit", "天津市人民政府")
    district = issuer_unit("深圳市南山区人民政府")
    assert [(a.name, a.level) for a in district.areas] == [("广东省", "省"), ("深圳市", "市"), ("南山区", "区")]
    # one unit whatever outer areas the issuer's name spells out
    assert district.unit.name == "南山区人民政府" and "深圳市南山区人民政府" in district.unit.aliases
    assert issuer_unit("南山区人民政府").unit.id == district.unit.id
    assert issuer_unit("深圳市南山区司法局").unit.id == issuer_unit("南山区司法局").unit.id
    assert district.unit.parent_id == stable_id("unit", "深圳市人民政府")
    assert "区政府" in district.unit.aliases
    province = issuer_unit("广东省人民政府")
    assert "广东市政府" not in province.unit.aliases and "省政府" in province.unit.aliases
    assert issuer_unit("中华人民共和国国务院").unit.aliases == ["国务院"]


def test_short_names_are_qualified_by_the_issuers_jurisdiction(corpus: Path) -> None:
    # 按照党中央国务院、省委省政府的要求，市委市政府全力以赴组织实施抢险救援 …
    sentence = _sentence(_text(corpus, SHENZHEN_2016), "市委市政府全力以赴")
    city = issuer_unit("深圳市人民政府")
    mentions = find_units(sentence, city)
    assert [m.unit.name for m in mentions][:6] == ["中共中央", "中华人民共和国国务院", "广东省委", "广东省人民政府", "深圳市委", "深圳市人民政府"]
    # the city's own bodies do the work; the higher levels (按照…的要求) do not
    assert [m.unit.name for m in responsible_units(sentence, mentions, 0, city.outer)] == ["深圳市委", "深圳市人民政府"]
    # the same sentence in a district's report: 市委 is the same organisation (same id), 市政府 too
    district = issuer_unit("深圳市南山区人民政府")
    by_name = {m.unit.name: m.unit.id for m in find_units(sentence, district)}
    assert by_name["深圳市委"] == next(m.unit.id for m in mentions if m.unit.name == "深圳市委")
    assert by_name["深圳市人民政府"] == city.unit.id


def test_district_names_kept_whole_and_never_shared() -> None:
    nanshan, futian = issuer_unit("深圳市南山区人民政府"), issuer_unit("深圳市福田区人民政府")
    phrase = "区委区政府印发实施方案，区纪委监委开展监督，区人大常委会听取报告，区司法局牵头评查。"
    assert _names(phrase, nanshan) == ["南山区委", "南山区人民政府", "南山区纪委监委", "南山区人大常委会", "南山区司法局"]
    bureau = next(m.unit for m in find_units(phrase, nanshan) if m.surface == "区司法局")
    assert bureau.parent_id == nanshan.unit.id
    # 区政府 of two districts are two units; 区政府 in its own report is the issuer
    assert next(m.unit for m in find_units("区政府", nanshan)) is nanshan.unit
    assert {m.unit.id for m in find_units("区政府", nanshan)} != {m.unit.id for m in find_units("区政府", futian)}
    # never from inside a longer word or a 《》 title
    assert _names("参加省委党校培训", nanshan) == []
    assert _names("印发《深圳市人民政府关于加强法治政府建设的意见》", nanshan) == []
    # 我区/本区 → the issuer's government; 我局 → the issuer
    assert [m.unit for m in find_units("我区持续推进", nanshan)] == [nanshan.unit]
    justice = issuer_unit("深圳市南山区司法局")
    assert [m.unit for m in find_units("本局组织开展", justice)] == [justice.unit]
    assert [m.unit.name for m in find_units("我区持续推进", justice)] == ["南山区人民政府"]


def test_self_references_and_jurisdiction_not_as_actor(corpus: Path, founding: Extraction) -> None:
    text = founding.document.text
    issuer = issuer_unit("天津市科学技术局")
    # 2023年度，我局共出台3件行政规范性文件 → the issuer, as the subject
    sentence = _sentence(text, "我局共出台")
    mentions = find_units(sentence, issuer)
    assert [m.unit for m in responsible_units(sentence, mentions, 0)] == [issuer.unit]
    # 2016年本市生产总值19492.6亿元 names the city as a place, not an actor
    assert _names(_sentence(_text(corpus, "reports/gov-work/shenzhen-gwr-2017.txt"), "本市生产总值"), issuer_unit("深圳市人民政府")) == []


def test_groups_and_roles(corpus: Path, founding: Extraction) -> None:
    # 认真执行行政机关负责人出庭应诉制度: a role
    role = next(u for u in founding.units if u.name == "行政机关负责人")
    assert role.kind == "role"
    # 各级政府要习惯过紧日子: a group, and the subject
    sentence = _sentence(_text(corpus, STATE_COUNCIL_2024), "各级政府要习惯过紧日子")
    council = issuer_unit("中华人民共和国国务院")
    mentions = find_units(sentence, council)
    subjects = responsible_units(sentence, mentions, 0)
    assert [(m.unit.name, m.unit.kind) for m in subjects] == [("各级政府", "group")]
    # 各区 of Tianjin and of Shenzhen are two groups
    tianjin = next(u for u in founding.units if u.name == "天津市各区")
    assert "各区" in tianjin.aliases
    shenzhen = next(m.unit for m in find_units("各区", issuer_unit("深圳市人民政府")))
    assert tianjin.id != shenzhen.id and tianjin.kind == shenzhen.kind == "group"


def test_responsibility_says_where_it_comes_from(founding: Extraction) -> None:
    by_title = {m.title: m for m in founding.measures}
    mentions = {(unit_id, measure_id) for unit_id, measure_id, _, _ in founding.unit_mentions}
    emergency = by_title["健全突发事件应对机制制度"]  # 局党委会每季度专题听取…
    assert emergency.unit_source == "text"
    assert all((unit_id, emergency.id) in mentions for unit_id in emergency.units)
    supervision = by_title["着力加强公正监管"]  # names no unit: the issuer by default
    assert supervision.unit_source == "issuer"
    assert [u.name for u in founding.units if u.id in supervision.units] == ["天津市科学技术局"]
    for _, _, start, end in founding.unit_mentions:
        assert 0 <= start < end <= len(founding.document.text)


def test_由_and_会同_name_the_actors() -> None:
    nanshan = issuer_unit("深圳市南山区人民政府")
    phrase = "对重大行政决策，由区司法局负责合法性审查，区政府法律顾问室提出意见，区财政局会同区发展改革局开展评估。"
    mentions = find_units(phrase, nanshan)
    names = [m.unit.name for m in responsible_units(phrase, mentions, 0, nanshan.outer)]
    assert names == ["南山区司法局", "南山区人民政府法律顾问室", "南山区财政局", "南山区发展改革局"]
    adviser = next(m.unit for m in mentions if m.unit.name == "南山区人民政府法律顾问室")
    assert adviser.parent_id == nanshan.unit.id


def test_junk_of_a_provincial_report_is_no_unit() -> None:
    """The forms the issue found in a provincial report: 府党组, 广东省网上办, 广东省市联动举办, 广东市政府."""
    province = issuer_unit("广东省人民政府")
    assert "广东市政府" not in province.unit.aliases
    assert _names("省政府党组理论学习中心组", province) == ["广东省人民政府党组"]
    assert _names("全面推广广东省网上办税服务", province) == []
    assert _names("推进省网上办事大厅建设", province) == []
    assert _names("省市联动举办招商活动", province) == []
    # 市县政府 are the province's cities and counties: a group, no 县人民政府
    assert [(m.unit.name, m.unit.kind) for m in find_units("市县政府要落实属地责任", province)] == [("广东省市县政府", "group")]


def test_no_junk_units_in_the_corpus(corpus: Path) -> None:
    """Every report of the manifest: no unit cut from a verb (举办, 部署, 签署), a place (特别行政区) or a title."""
    junk = re.compile(r"举办|部署|签署|通办|网上办|布局|大局|府党组|特别行政区|市区|省市|^[省市区县]")
    with (corpus / "manifest.csv").open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["doc_type"] == "report"]
    assert len(rows) >= 20
    for row in rows:
        issuer = issuer_unit(row["issuer"])
        names = {m.unit.name for m in find_units(_text(corpus, row["path"]), issuer) if m.unit.kind == "organisation"}
        assert not [n for n in names if junk.search(n)], row["path"]
