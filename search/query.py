"""What a query is before it is ranked: a question or a topic phrase, the words BM25 should see, the years it names.

A lay question (``房东不退押金怎么办``) carries scaffolding (请问, 我, 怎么办, 可以吗, 是否) that is no
evidence of relevance: as jieba words most of it is a stop word already, but its character bigrams
(``么办``, ``以吗``) reach the BM25 index and match passages at random. :func:`keyword_query` removes
that scaffolding and adds the statutory words of :mod:`policykg.search.terms` for colloquial ones.
"""

from __future__ import annotations

import re
from typing import Literal

from policykg.search.terms import statutory_terms

QueryKind = Literal["question", "topic"]

# Longest first, so that 怎么办 goes before 怎么 and 可不可以 before 可以.
SCAFFOLDING = sorted(
    [
        "请问一下", "请问", "想问一下", "想问", "问一下", "我想知道", "想知道", "咨询一下", "咨询",
        "怎么办呢", "怎么办", "该怎么办", "怎么处理", "如何处理", "怎么解决", "怎么样", "怎么", "如何", "怎样",
        "可不可以", "可以吗", "能不能", "能否", "是否", "是不是", "有没有", "会不会", "要不要", "行不行",
        "吗", "呢", "吧", "啊", "呀", "什么", "哪些", "哪里", "哪个", "多少", "为什么", "谁",
        "我们", "我的", "我", "你们", "你", "他们", "自己", "请", "应该", "需要", "一下",
    ],
    key=len,
    reverse=True,
)
_SCAFFOLD_RE = re.compile("|".join(map(re.escape, SCAFFOLDING)))
_QUESTION_RE = re.compile(
    r"[?？]|吗|呢|怎么|如何|怎样|是否|能否|能不能|可不可以|可以.{0,12}吗|有没有|会不会|要不要|是不是|为什么|多少|哪些|哪里|谁|什么|多久|多长时间|几[天日个年月次人项岁]|哪个|哪一|何时"
)
_YEAR_RE = re.compile(r"(?<!\d)(19[5-9]\d|20[0-4]\d)(?:年|年度)?(?!\d)")


def query_kind(query: str) -> QueryKind:
    """``question`` for a question (能否…吗, 怎么办, 是否, 吗, 呢, 多久, 几天, 哪个, a question mark), else ``topic``."""
    return "question" if _QUESTION_RE.search(query) else "topic"


def strip_scaffolding(query: str) -> str:
    """``query`` without its question scaffolding (请问, 我, 怎么办, 可以吗, 是否 …); the query itself when
    nothing but scaffolding would be left."""
    stripped = _SCAFFOLD_RE.sub(" ", query)
    stripped = re.sub(r"[?？!！,，。、\s]+", " ", stripped).strip()
    return stripped if len(stripped.replace(" ", "")) >= 2 else query


def keyword_query(query: str, *, strip: bool = True, expand: bool = True) -> str:
    """The text given to BM25: ``query`` without scaffolding (``strip``), with the statutory words for its
    colloquial ones appended (``expand``)."""
    text = strip_scaffolding(query) if strip else query
    if expand:
        extra = [t for t in statutory_terms(query) if t not in text]
        if extra:
            text = f"{text} {' '.join(extra)}"
    return text


def years_named(query: str) -> list[int]:
    """The years a query names (``2019年``, ``2020``)."""
    return [int(m.group(1)) for m in _YEAR_RE.finditer(query)]


_PLACE_RE = re.compile(r"^(.{2,}?)(?:省|市|自治区|特别行政区|自治州|地区|盟|区|县)")


def issuer_names(issuer: str) -> list[str]:
    """The ways a query may name an issuer: its full name, a national body without the country's name
    (中华人民共和国国务院 → 国务院), and the place it governs without its suffix (深圳市人民政府 → 深圳;
    天津市科学技术局 → 天津)."""
    names = [issuer]
    if issuer.startswith("中华人民共和国") and len(issuer) > 9:
        return [*names, issuer.removeprefix("中华人民共和国")]
    m = _PLACE_RE.match(issuer)
    if m:
        names.append(m.group(1))
    return names


def issuers_named(query: str, issuers: list[str]) -> set[str]:
    """The issuers among ``issuers`` that ``query`` names (by full name or by place)."""
    return {i for i in issuers if any(name in query for name in issuer_names(i))}


__all__ = ["QueryKind", "issuer_names", "issuers_named", "keyword_query", "query_kind", "strip_scaffolding", "years_named"]
