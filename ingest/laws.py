"""Names of laws and regulations, from the name alone: kind (law / regulation / local regulation / rules / policy /
draft), canonical key, formal name and short names, subject matter (topic), jurisdiction; the national laws named
without 《》; regulations named bare by their form (…条例 in running text); group references (一法一条例); and what a
measure did with a regulation it names (implements / drafts / revises / studies), from the verbs of its clause."""

from __future__ import annotations

import re
from dataclasses import dataclass

from policykg.graph.model import LinkRelation, RegulationKind

NATIONAL_PREFIX = "中华人民共和国"
# 省/自治区, then 市 (not 都市圈, 市场 …), then 区/县 (not 社区, 园区 …): 深圳市南山区, 广东省, 北京市, 滨海新区
LOCAL_PREFIX = re.compile(
    r"^(?=[\u4e00-\u9fff]{2})((?:[\u4e00-\u9fff]{2,3}?(?:省|自治区|特别行政区))?"
    r"(?:(?:北京|天津|上海|重庆|[\u4e00-\u9fff]{2,3}?)市(?![场民级域圈容政貌])|[\u4e00-\u9fff]{2}经济特区)?"
    r"(?:[\u4e00-\u9fff]{1,3}?(?<![社园景片校厂矿营库])(?:区|县)(?![域别块间级划]))?)"
)
VERSION_SUFFIX = re.compile(r"[（(](?:\d{4}年?[^）)]*|试行|草案|修正|修订|征求意见稿|送审稿)[）)]$")
DRAFT_MARK = re.compile(r"[（(]?(?:草案|征求意见稿|送审稿)[）)]?$")
# longest suffix first: 办法 and 方法 end in 法 but are not laws
KIND_SUFFIXES: list[tuple[str, RegulationKind]] = sorted(
    [
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
        ("方法", "other"),
        ("做法", "other"),
        ("执法", "other"),
        ("立法", "other"),
        ("司法", "other"),
        ("普法", "other"),
        ("守法", "other"),
        ("违法", "other"),
        ("合法", "other"),
        ("依法", "other"),
    ],
    key=lambda suffix_kind: -len(suffix_kind[0]),
)
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


def regulation_kind(name: str, jurisdiction: str | None = None) -> RegulationKind | None:
    """law / regulation / local_regulation / rules / policy / draft by the name's ending (a 条例 of a jurisdiction is a
    local regulation: 天津市科学技术进步促进条例); None if not a regulation (方法, 执法, 汇编 …)."""
    raw = name.strip("《》 ")
    clean = strip_version(raw)
    if PUBLICATION_WORDS.search(clean):
        return None
    for suffix, kind in KIND_SUFFIXES:
        if clean.endswith(suffix):
            if kind == "other" or len(clean) < (2 if kind == "law" else len(suffix) + 2):
                return None
            if DRAFT_MARK.search(raw):
                return "draft"
            if kind == "regulation" and (jurisdiction or jurisdiction_of(clean)):
                return "local_regulation"
            return kind
    return None


def issuer_jurisdiction(issuer: str | None) -> str | None:
    """The place an issuer governs: 深圳市南山区司法局 → 深圳市南山区, 天津市科学技术局 → 天津市; national → None."""
    if not issuer or issuer.startswith(("国务院", "中华人民共和国", "国家", "中共中央", "全国")):
        return None
    found = LOCAL_PREFIX.match(issuer)
    return found.group(1) or None if found else None


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
    key = re.sub(r"暂行(条例|办法|规定)$", r"\1", key)  # one document, named with or without 暂行
    return ABBREVIATIONS.get(key, key)


def jurisdiction_of(name: str) -> str | None:
    """北京市实验动物管理条例 → 北京市, 深圳市南山区…暂行办法 → 深圳市南山区; national names → None."""
    clean = regulation_key(name)
    prefix = LOCAL_PREFIX.match(clean)
    if prefix and prefix.group(1) and not clean.startswith(("国务院", "国家")):
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
    if clean in ABBREVIATIONS:
        clean = ABBREVIATIONS[clean]  # an abbreviation: use the full name
    kind = regulation_kind(clean)
    if kind == "law" and jurisdiction_of(clean) is None and not clean.startswith(NATIONAL_PREFIX):
        return NATIONAL_PREFIX + clean
    return clean


def bare_mention_names(name: str) -> list[str]:
    """Names that count without 《》: the short names of national laws (宪法, 民法典, 行政处罚法) and the full names
    of regulations and rules (优化营商环境条例, 政府信息公开条例: six characters or more, too long to be a word)."""
    kind = regulation_kind(name)
    if kind == "law" and not jurisdiction_of(name):
        return [short for short in short_names(name) if len(short) >= 2 and short.endswith(("法", "法典"))]
    if kind in ("regulation", "local_regulation", "rules"):
        return [short for short in short_names(name) if len(short) >= 6]
    return []


# ---------------------------------------------------------------- what a measure did with a regulation it names
CLAUSE_STOP = "。；;！？\n，,：:"
TITLE_RE = re.compile(r"《[^《》\n]*》")  # a 《…》 title on one line
# verbs (and verb compounds) by relation, longest first; 学习贯彻 is studying, 修改后的 an adjective (see below)
RELATION_VERBS: dict[LinkRelation, tuple[str, ...]] = {
    "studies": (
        "学习宣传贯彻", "学习贯彻", "宣传贯彻", "学习宣贯", "学习", "宣传", "宣贯", "宣讲", "培训", "普法", "学法", "解读",
        "释法", "讲座", "知识竞赛", "考试", "研讨",
    ),
    "drafts": (
        "起草", "草拟", "制定", "制订", "出台", "印发", "颁布", "发布", "编制", "立法", "审议", "送审", "报审", "提请",
        "合法性审查", "征求意见",
    ),
    "revises": ("修订", "修改", "修正", "废止", "清理", "立改废"),
    "implements": (
        "贯彻落实", "贯彻实施", "贯彻", "落实", "实施", "施行", "执行", "依据", "依照", "按照", "根据", "遵照", "遵守", "适用",
        "运用", "对照",
    ),
}
REVISED_ADJECTIVE = re.compile(r"(?:修改|修订|修正)后的$|新修订的$|新修改的$")
_VERB_RE = re.compile(
    "|".join(sorted((re.escape(v) for verbs in RELATION_VERBS.values() for v in verbs), key=len, reverse=True))
)
_RELATION_OF_VERB = {verb: relation for relation, verbs in RELATION_VERBS.items() for verb in verbs}
PREPOSITIONS = ("依据", "依照", "按照", "根据", "遵照", "对照")
AFTER_WINDOW = 20  # a verb after the name counts this close: 《条例》宣贯解读, …条例立法工作, 《X》等法律法规开展普法宣传


def _clause_before(text: str, start: int) -> str:
    """The clause before ``text[start]``, from its start or from the end of the last other title in it."""
    lo = start
    while lo > 0 and text[lo - 1] not in CLAUSE_STOP:
        lo -= 1
    before = text[lo:start]
    titles = list(TITLE_RE.finditer(before))
    return before[titles[-1].end() :] if titles else before


def relation_of(text: str, start: int, end: int) -> LinkRelation:
    """What the clause around the mention ``text[start:end]`` does with the regulation named there.

    The first verb of the clause before the name (after any other title) decides (起草《…》 drafts, 贯彻落实《…》 implements, 学习贯彻《…》
    studies); without one, the first verb after it within a short window (《条例》宣贯解读 studies, …条例立法工作
    drafts); 修改后的《…》 alone is a revision; nothing at all: implements.
    """
    hi = end
    while hi < len(text) and text[hi] not in CLAUSE_STOP:
        hi += 1
    before = _clause_before(text, start)  # a verb before another title governs that title: 依据《X》制定《Y》
    adjective = REVISED_ADJECTIVE.search(before)
    if adjective:
        before = before[: adjective.start()]
    verbs = [verb.group(0) for verb in _VERB_RE.finditer(before)]
    while len(verbs) > 1 and verbs[0] in PREPOSITIONS:  # 根据工作需要修订《Y》: 修订 governs
        verbs.pop(0)
    if verbs:  # the clause's first verb: 落实中办、国办印发《X》 implements X
        return _RELATION_OF_VERB[verbs[0]]
    after = TITLE_RE.sub("\u3000", text[end:hi])[:AFTER_WINDOW]
    if after.startswith(("（草案", "(草案", "草案")):
        return "drafts"
    found = _VERB_RE.search(after)
    relation = _RELATION_OF_VERB[found.group(0)] if found else "implements"
    if adjective and (found is None or found.group(0) == "施行"):  # 修改后的《条例》自…起施行: the revision
        return "revises"
    return relation


# ---------------------------------------------------------------- regulations named bare, by their form
# a name ends in one of these; 法 alone is left to the lexicon of laws (方法, 执法, 依法 are words)
BARE_FORM_RE = re.compile(
    r"[\u4e00-\u9fff]{2,24}?(?:促进|保护|管理|安全|振兴|监督|组织|保障|防治|应对)法(?![\u4e00-\u9fff]{0,1}[律规制治院官])"
    r"|[\u4e00-\u9fff]{3,24}?(?:条例|(?:管理|实施|暂行|试行)(?:办法|细则|规定)|若干规定)(?:[（(]草案[）)])?"
)
# words a bare name starts after (a verb, an adverb, a particle): 积极做好|促进天开高教科创园发展条例
NAME_START_AFTER = re.compile(
    r".*(?:做好|贯彻落实|贯彻|落实|实施|施行|执行|出台|制定|制订|修订|修改|起草|推动|推进|开展|完成|颁布|宣传|学习|宣贯|"
    r"通过|审议|配合|积极|认真|深入|加快|组织|研究|印发|发布|依据|依照|按照|根据|遵守|围绕|启动|做实|抓好|"
    r"改进|完善|健全|建立|推动|等|的|了|《|》|“|”|、)"
)
NAME_ENDING = re.compile(
    r"(?:(?:促进|保护|管理|安全|振兴|监督|组织|保障|防治|应对)法|条例|(?:管理|实施|暂行|试行)(?:办法|细则|规定)|若干规定)"
    r"(?:[（(]草案[）)])?$"
)
LEADING_PARTICLE = re.compile(r"^(?:对|将|把|以|是|在|为|就|按|由|从|加快|抓紧|全国首部|国内首部|首部|一批)+")
BARE_NOT_NAMES = re.compile(r"^(?:有关|相关|若干|各项|各类|本|该|此|上述|这|那|其|新|原|现行|配套|使用|实施|管理|暂行|试行)")


@dataclass
class BareName:
    """A regulation named without 《》 in running text: its span and name (a 草案 mark kept out of the name)."""

    start: int
    end: int
    name: str
    draft: bool = False


def bare_regulation_names(text: str) -> list[BareName]:
    """Regulations named without 《》 by their form (法律援助条例, 促进天开高教科创园发展条例（草案）), outside 《》.

    The name starts after the last verb, adverb or particle before its ending; what is left must be a
    subject of its own (4 or more characters before 条例, no 有关/相关 …).
    """
    titles = [(m.start(), m.end()) for m in TITLE_RE.finditer(text)]
    out: list[BareName] = []
    for found in BARE_FORM_RE.finditer(text):
        start, end = found.start(), found.end()
        if any(lo <= start < hi or lo < end <= hi for lo, hi in titles):
            continue
        # the run of characters since the clause began, cut after its last verb or particle
        run_start = start
        while run_start > 0 and "\u4e00" <= text[run_start - 1] <= "\u9fff" and start - run_start < 30:
            run_start -= 1
        run = text[run_start:end]
        ending = NAME_ENDING.search(run)  # 实施办法: the 实施 of the ending is no verb to cut at
        cut = NAME_START_AFTER.match(run[: ending.start() if ending else len(run)])
        name = LEADING_PARTICLE.sub("", run[cut.end() :] if cut else run)
        name_start = end - len(name)
        raw = name
        draft = bool(re.search(r"[（(]草案[）)]$", raw))
        name = re.sub(r"[（(]草案[）)]$", "", name)
        stem = re.sub(r"(?:条例|办法|细则|规定|法)$", "", name)
        if len(stem) < 4 or BARE_NOT_NAMES.match(name) or regulation_kind(name) is None:
            continue
        out.append(BareName(name_start, end, name, draft))
    return out


# ---------------------------------------------------------------- group references: 科技进步“一法一条例”
GROUP_RE = re.compile(r"([\u4e00-\u9fff]{2,8}?)[“\"]?([一二两三四])法([一二两三四])条例[”\"]?")
COUNTS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4}


@dataclass
class GroupReference:
    """A group of regulations named by count: 科技进步“一法一条例” = one law and one regulation on 科技进步."""

    start: int
    end: int
    subject: str
    laws: int
    regulations: int


def group_references(text: str) -> list[GroupReference]:
    """Every “一法一条例”-style group in ``text``, with the subject words before it (以科技进步“一法一条例” → 科技进步)."""
    out = []
    for found in GROUP_RE.finditer(text):
        subject = re.sub(r"^(?:以|将|把|围绕|对|加强|深入|推进|宣贯|学习|贯彻|落实)+", "", found.group(1))
        start = found.start() + len(found.group(1)) - len(subject)
        out.append(GroupReference(start, found.end(), subject, COUNTS[found.group(2)], COUNTS[found.group(3)]))
    return out


def subject_matches(subject: str, key: str) -> bool:
    """Whether a group's subject names the regulation ``key`` (科技进步 ⊂ 科学技术进步法, with 科技 = 科学技术)."""
    fold = key.replace("科学技术", "科技")
    return len(subject) >= 2 and (subject in key or subject in fold)


NATIONAL_MARKS = re.compile(r"^(?:国务院|国家|中共中央|中央|全国|中国共产党|党政|关于|中办|国办)")


NATIONAL_ACTOR = re.compile(r"国务院|中共中央|党中央|中办|国办|全国人大|国家[\u4e00-\u9fff]{0,6}(?:部|委|局|署)")
# the issuer's own level: 市委全面依法治市委员会《…意见》 in a 天津市 bureau's report is 天津市's
ISSUER_LEVEL_ACTOR = re.compile(r"(?:^|[和及、与])(?:市|区|县|省)(?:委|政府|人民政府|人大|人大常委会)")
PLACE_ACTOR = re.compile(r"([\u4e00-\u9fff]{2,3}?(?:省|自治区))(?:人大|政府|委|人民政府)?")


def clause_actor(text: str, start: int) -> str | None:
    """Who acts in the clause before a mention, if another authority is named: 国务院出台《…》 → "national",
    广东省出台《深汕特别合作区条例》 → 广东省; None when the clause names nobody (the issuer acts)."""
    before = _clause_before(text, start)  # 中办、国办印发《…》和市委…委员会《…》: each title has its own actor
    if NATIONAL_ACTOR.search(before):
        return "national"
    if ISSUER_LEVEL_ACTOR.search(before):
        return "issuer"
    found = PLACE_ACTOR.search(before)
    return found.group(1) if found else None


def place_cores(place: str) -> list[str]:
    """深圳市南山区 → [深圳, 南山]: the bare place names a local document may start with."""
    return [core for core in re.split(r"省|自治区|市|区|县", place) if len(core) >= 2]


def local_identity(
    name: str, kind: RegulationKind, issuer: str | None, relation: LinkRelation, actor: str | None = None
) -> tuple[str, str | None]:
    """The name and jurisdiction of a document a report names without a place: the issuer's own jurisdiction
    prefixes it where the issuer made or changed it (制定…管理办法 in a 深圳市 report), and for a district or county
    issuer, any rules or policy without a national mark (a 南山区 report's 《…暂行办法》 → 深圳市南山区…暂行办法).
    National laws, national names and names that carry a place stay as they are."""
    own = jurisdiction_of(name)
    if not own and actor == "issuer" and kind != "law":
        return name, issuer_jurisdiction(issuer)
    if own or actor == "national" or kind == "law" or name.startswith(NATIONAL_PREFIX) or NATIONAL_MARKS.match(name):
        return name, own
    place = issuer_jurisdiction(issuer)
    if actor == "issuer":  # 市委…《关于…的意见》: the issuer's city, named as written
        return name, place
    if actor is not None:  # 广东省出台《深汕特别合作区条例》: the province's
        return name, actor
    if place is None:
        return name, None
    if name.startswith(tuple(place_cores(place))):  # 深圳都市圈发展规划 in a 深圳市 report
        return name, place
    district = place.endswith(("区", "县"))
    if relation in ("drafts", "revises") or (district and kind in ("rules", "policy")):
        return place + name, place
    return name, None


# ---------------------------------------------------------------- practice a legal-affairs reader ties to a law
# phrase (regex) → (regulation key, the articles that establish it). 行政执法“三项制度” (公示, 全过程记录, 法制审核)
# is set by 行政处罚法 第三十九、四十七、五十八条; 主动公开政府信息 by 政府信息公开条例's chapter on 主动公开.
# Several entries may name one regulation: the first that matches a measure links it.
PRACTICE_TOPICS: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    (re.compile(r"执法[“\"]?三项制度|行政执法公示[、，和及]\S{0,4}全过程记录"), "行政处罚法", ("第三十九条", "第四十七条", "第五十八条")),
    # 优化营商环境条例 第五十八条 orders the same three systems in so many words
    (re.compile(r"执法[“\"]?三项制度|行政执法公示[、，和及]\S{0,4}全过程记录"), "优化营商环境条例", ("第五十八条",)),
    (re.compile(r"行政执法公示"), "行政处罚法", ("第三十九条",)),
    (re.compile(r"执法全过程记录"), "行政处罚法", ("第四十七条",)),
    (re.compile(r"(?:重大)?执法决定法制审核|行政处罚决定法制审核"), "行政处罚法", ("第五十八条",)),
    (re.compile(r"行政(?:处罚)?裁量基准"), "行政处罚法", ("第三十四条",)),
    (re.compile(r"(?:行政处罚|执法)案卷评查|案卷评查"), "行政处罚法", ()),
    (re.compile(r"减免责清单|免罚清单|不予(?:行政)?处罚清单|首违不罚"), "行政处罚法", ("第三十三条",)),
    (re.compile(r"主动公开政府信息|政府信息主动公开"), "政府信息公开条例", ("第十九条", "第二十条")),
    (re.compile(r"拖欠(?:中小)?企业(?:账款|款项)|清欠"), "保障中小企业款项支付条例", ()),
    (re.compile(r"依申请公开|政府信息公开申请"), "政府信息公开条例", ("第二十七条",)),
]
# a topic that is a policy goal (优化营商环境) names what many measures aim at, not a regulation they apply
GOAL_TOPIC = re.compile(r"^(?:优化|促进|保障|加强|推进|改善|深化|推动|提升)")
NEGATED = re.compile(r"未发生|没有发生|未出现|无一|零发生")
