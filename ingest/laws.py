"""Names of laws and regulations, from the name alone: kind (law / regulation / rules / policy), canonical key,
formal name and short names, subject matter (topic), jurisdiction; and the national laws named without 《》."""

from __future__ import annotations

import re

from policykg.graph.model import RegulationKind

NATIONAL_PREFIX = "中华人民共和国"
LOCAL_PREFIX = re.compile(
    r"^((?:北京|天津|上海|重庆|深圳|广州|[\u4e00-\u9fff]{2,3}?)(?:市|省|自治区|特别行政区))"
)
VERSION_SUFFIX = re.compile(r"[（(](?:\d{4}年?[^）)]*|试行|草案|修正|修订)[）)]$")
KIND_SUFFIXES: list[tuple[str, RegulationKind]] = [
    ("法典", "law"),
    ("法", "law"),
    ("暂行条例", "regulation"),
    ("条例", "regulation"),
    ("规定", "rules"),
    ("办法", "rules"),
    ("细则", "rules"),
    ("规则", "rules"),
    ("意见", "policy"),
    ("决定", "policy"),
    ("通知", "policy"),
    ("方案", "policy"),
    ("规划", "policy"),
    ("纲要", "policy"),
    ("决议", "policy"),
]
PUBLICATION_WORDS = re.compile(
    r"汇编|年版|白皮书|报告|年鉴|指南|读本|手册|目录|教材|日报|公报|杂志|选编|问答|释义|解读"
)
# Widely used short names: key of the short form → key of the full name.
ABBREVIATIONS = {
    "科技进步法": "科学技术进步法",
    "科普法": "科学技术普及法",
    "成果转化法": "促进科技成果转化法",
    "科技成果转化法": "促进科技成果转化法",
    "政府信息公开条例": "政府信息公开条例",
}
# National laws that documents name without 《》 (宪法, 民法典, 行政处罚法 …): a bare mention counts.
WELL_KNOWN_LAWS = (
    "宪法", "民法典", "立法法", "行政处罚法", "行政许可法", "行政强制法", "行政复议法", "行政诉讼法", "国家赔偿法",
    "公务员法", "监察法", "安全生产法", "网络安全法", "数据安全法", "个人信息保护法", "科学技术进步法", "科技进步法",
    "促进科技成果转化法", "科学技术普及法", "生物安全法", "专利法", "著作权法", "商标法", "劳动合同法", "预算法",
    "政府采购法", "招标投标法", "反垄断法", "反不正当竞争法", "消费者权益保护法", "环境保护法", "食品安全法",
    "药品管理法", "保守国家秘密法", "档案法", "统计法", "审计法", "突发事件应对法", "外商投资法", "中小企业促进法",
)
# Words that strip off a name to leave its subject matter (实验动物管理条例 → 实验动物).
TOPIC_SUFFIXES = (
    "管理暂行条例",
    "暂行条例",
    "管理条例",
    "促进条例",
    "条例",
    "管理办法",
    "办法",
    "实施细则",
    "细则",
    "若干规定",
    "规定",
    "法典",
    "法",
)
TOPIC_PREFIXES = ("国务院关于", "国家", "促进", "保障", "关于")
TOPIC_MIN_CHARS = 4


def regulation_kind(name: str) -> RegulationKind | None:
    """law / regulation / rules / policy by the name's ending; None if not a regulation."""
    clean = strip_version(name.strip("《》 "))
    if PUBLICATION_WORDS.search(clean):
        return None
    for suffix, kind in KIND_SUFFIXES:
        if clean.endswith(suffix):
            return kind if len(clean) >= (2 if kind == "law" else len(suffix) + 2) else None
    return None


def strip_version(name: str) -> str:
    """中华人民共和国行政处罚法（2021年修订） → 中华人民共和国行政处罚法."""
    before = None
    while before != name:  # 条例（2011年修订）（试行） has two
        before = name
        name = VERSION_SUFFIX.sub("", name).strip()
    return name


def regulation_key(name: str) -> str:
    """The identity of a regulation: 《中华人民共和国科学技术进步法》 and 科技进步法 share a key."""
    key = re.sub(r"[\s\u3000《》〈〉“”\"]", "", name)
    key = strip_version(key)
    if key.startswith(NATIONAL_PREFIX):
        key = key[len(NATIONAL_PREFIX) :]
    return ABBREVIATIONS.get(key, key)


def jurisdiction_of(name: str) -> str | None:
    """北京市实验动物管理条例 → 北京市; national names → None."""
    clean = regulation_key(name)
    prefix = LOCAL_PREFIX.match(clean)
    if prefix and not clean.startswith(("国务院", "国家")):
        return prefix.group(1)
    return None


def topic_of(name: str) -> str | None:
    """The subject matter a measure may name without citing: 实验动物管理条例 → 实验动物.

    Returns None where what is left is too short or too generic to link precisely.
    """
    key = regulation_key(name)
    jurisdiction = jurisdiction_of(key)
    if jurisdiction:
        key = key[len(jurisdiction) :]
    for prefix in TOPIC_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    for suffix in TOPIC_SUFFIXES:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    key = re.sub(r"的$", "", key)
    if len(key) < TOPIC_MIN_CHARS:
        return None
    return key


def short_names(name: str) -> list[str]:
    """Forms a report may use for a regulation: without 中华人民共和国, the known abbreviations."""
    clean = strip_version(re.sub(r"[\s\u3000《》]", "", name))
    names = {clean}
    if clean.startswith(NATIONAL_PREFIX):
        names.add(clean[len(NATIONAL_PREFIX) :])
    key = regulation_key(clean)
    names.add(key)
    names.update(abbr for abbr, full in ABBREVIATIONS.items() if full == key and abbr != key)
    return sorted(names, key=len)


def canonical_name(name: str) -> str:
    """The formal name for a cited national law: 科学技术进步法 → 中华人民共和国科学技术进步法."""
    clean = strip_version(re.sub(r"[\s\u3000《》]", "", name))
    key = regulation_key(clean)
    if key != clean and not clean.startswith(NATIONAL_PREFIX):
        clean = key  # an abbreviation: use the full key
    kind = regulation_kind(clean)
    if kind == "law" and jurisdiction_of(clean) is None and not clean.startswith(NATIONAL_PREFIX):
        return NATIONAL_PREFIX + clean
    return clean


def bare_mention_names(name: str) -> list[str]:
    """Names that count without 《》: the short names of national laws (宪法, 民法典, 行政处罚法)."""
    if regulation_kind(name) != "law" or jurisdiction_of(name):
        return []
    return [short for short in short_names(name) if len(short) >= 2 and short.endswith(("法", "法典"))]
