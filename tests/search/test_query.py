"""Query kind, question scaffolding removal and colloquial → statutory terms (fast: no model)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policykg.search.query import (
    issuer_names,
    issuers_named,
    keyword_query,
    query_kind,
    strip_scaffolding,
    years_named,
)
from policykg.search.terms import COLLOQUIAL, statutory_terms
from policykg.search.tokenize import Tokenizer, bigrams

OWN = Path(__file__).resolve().parents[2] / "bench" / "data" / "queries.jsonl"


def own_queries() -> list[dict[str, str]]:
    return [json.loads(line) for line in OWN.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_lay_questions_are_questions_and_topics_are_not() -> None:
    queries = own_queries()
    lay = [q["q"] for q in queries if q["kind"] == "lay"]
    topics = [q["q"] for q in queries if q["kind"] in ("topic", "keyword")]
    assert sum(query_kind(q) == "question" for q in lay) >= 0.95 * len(lay)
    assert all(query_kind(q) == "topic" for q in topics)


def test_questions_asking_how_long_how_many_or_which_are_questions() -> None:
    for q in ("收到处罚决定心里不服，过多久就来不及申请复议了", "申请办一个许可证，机关最多拖几天必须给结果",
              "国家最顶级的那个科技大奖一次能有几个人获得", "每年哪个月是全国性的科学知识宣传月"):
        assert query_kind(q) == "question", q
    for q in ("几何级数增长", "十四五规划", "多元化纠纷解决机制"):  # 几 without a counter word: a topic
        assert query_kind(q) == "topic", q


def test_scaffolding_bigrams_no_longer_reach_bm25() -> None:
    q = "违法的事过了好几年才被查出来，还能罚我吗"
    assert "我吗" in bigrams(q)
    stripped = strip_scaffolding(q)
    assert "我吗" not in bigrams(stripped) and "违法" in stripped and "查出来" in stripped
    # nothing but scaffolding: the query is kept as it is
    assert strip_scaffolding("怎么办呢") == "怎么办呢"


def test_colloquial_words_bring_their_statutory_words() -> None:
    assert statutory_terms("房东不退押金怎么办") [:1] == ["出租人"]
    kq = keyword_query("房东不退押金怎么办")
    assert "出租人" in kq and "怎么办" not in kq
    assert keyword_query("双随机一公开") == "双随机一公开"


def test_statutory_words_are_words_of_the_corpus_regulations(corpus: Path) -> None:
    """Every word the expansion adds occurs in the articles of the corpus's regulations."""
    text = "".join(p.read_text(encoding="utf-8") for p in (corpus / "regulations").glob("*.md"))
    missing = sorted({t for terms in COLLOQUIAL.values() for t in terms if t not in text})
    assert not missing


def test_expansion_tokens_are_bm25_terms(corpus: Path) -> None:
    article = next(
        m.group(0) for m in re.finditer(r"第七百二十[一-九]条[^\n]*", (corpus / "regulations" / "minfadian.md").read_text(encoding="utf-8"))
        if "出租人" in m.group(0)
    )
    tok = Tokenizer()
    assert set(tok.tokenize(keyword_query("房东不让我转租"))) & set(tok.tokenize(article))


@pytest.mark.parametrize(("q", "years"), [("2019年 减税降费", [2019]), ("营商环境", []), ("2020 到 2022 就业", [2020, 2022])])
def test_years_named(q: str, years: list[int]) -> None:
    assert years_named(q) == years


def test_issuers_are_named_by_full_name_or_by_place(corpus: Path) -> None:
    import csv

    with (corpus / "manifest.csv").open(encoding="utf-8-sig", newline="") as fh:
        issuers = sorted({row["issuer"] for row in csv.DictReader(fh) if row["doc_type"] == "report"})
    assert issuers_named("深圳2019年营商环境", issuers) == {"深圳市人民政府"}
    assert issuers_named("国务院 简政放权", issuers) == {"中华人民共和国国务院"}
    assert {i for i in issuers_named("天津科技局的法治工作", issuers)} == {i for i in issuers if i.startswith("天津")}
    assert not issuers_named("营商环境 优化", issuers)
    assert issuer_names("深圳市南山区司法局")[-1] == "深圳"
    assert years_named("国务院2016年简政放权，到2035年") == [2016, 2035]
