"""Tests for search.tokenize: a Tokenizer's tokens depend on its own words only, never on process history."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import jieba
import pytest

from policykg.graph.model import Regulation
from policykg.search import tokenize as tk
from policykg.search.tokenize import STOPWORDS, Tokenizer, bigrams

REPORT = "reports/fazhi/tianjin-kjj-fazhi-2023.txt"
CITING = "《人类遗传资源管理条例》"  # cited in the report's line on law popularisation
NAME = "人类遗传资源管理条例"
WORDS = ["《科学技术进步法》", NAME, "《实验动物管理条例》", "天津市科学技术进步促进条例", "实验动物"]
# Word sets that change jieba's segmentation of the same lines if they leaked between tokenizers.
OTHER_WORDS = [
    ["法治政府建设", "行政执法", "政务服务事项"],
    ["遗传资源", "管理条例", "科学技术"],
    ["依法行政", "规范性文件", "重大行政决策"],
    ["市科技局", "局主要负责人", "第一责任人"],
    ["双随机", "一公开", "好差评"],
    ["实验动物生产", "人类遗传"],
]


@pytest.fixture(scope="module")
def lines(corpus: Path) -> list[str]:
    """The non-empty lines of a real report."""
    text = (corpus / REPORT).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def citing_line(lines: list[str]) -> str:
    found = [line for line in lines if CITING in line]
    assert found, f"no line of {REPORT} cites {CITING}"
    return found[0]


def test_regulation_name_kept_whole_only_when_given(citing_line: str) -> None:
    with_name = Tokenizer(WORDS).tokenize(citing_line)
    without = Tokenizer().tokenize(citing_line)
    assert NAME in with_name
    assert NAME not in without
    assert "遗传" in without and "资源" in without  # split into shorter words
    assert "科学技术进步法" in with_name  # 《》 stripped from the given word


def test_tokens_do_not_depend_on_other_tokenizers(lines: list[str]) -> None:
    first = [Tokenizer(WORDS).tokenize(line) for line in lines]
    plain = [Tokenizer().tokenize(line) for line in lines]
    held = Tokenizer(WORDS)
    assert [held.tokenize(line) for line in lines] == first
    for words in OTHER_WORDS:  # more word sets than the cache keeps: old instances are evicted
        other = Tokenizer(words)
        other_tokens = [other.tokenize(line) for line in lines]
        assert other_tokens != plain, words  # these words do change the segmentation ...
    # ... yet nothing leaked: a new tokenizer, a held one and one without words give what they gave before.
    assert [Tokenizer(WORDS).tokenize(line) for line in lines] == first
    assert [held.tokenize(line) for line in lines] == first
    assert [Tokenizer().tokenize(line) for line in lines] == plain
    assert [Tokenizer(reversed(WORDS)).tokenize(line) for line in lines] == first  # order of words is irrelevant


def test_jieba_global_dictionary_untouched(citing_line: str) -> None:
    Tokenizer(WORDS).tokenize(citing_line)
    assert NAME not in jieba.lcut_for_search(citing_line)
    assert jieba.dt.FREQ.get(NAME) is None


_CHILD = """
import json, sys
from policykg.search.tokenize import Tokenizer
words, others, lines = json.loads(sys.stdin.read())
for o in others:
    Tokenizer(o).tokenize(lines[0])
print(json.dumps([Tokenizer(words).tokenize(line) for line in lines]))
"""


def test_same_tokens_in_a_fresh_process_with_another_history(lines: list[str]) -> None:
    """Another process, which built other tokenizers first (in another order), gives the same tokens."""
    here = [Tokenizer(WORDS).tokenize(line) for line in lines]
    payload = json.dumps([WORDS, OTHER_WORDS[::-1], lines], ensure_ascii=False)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD], input=payload, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == here


def test_threads_get_the_same_tokens(lines: list[str]) -> None:
    want = [Tokenizer(WORDS).tokenize(line) for line in lines]
    results: list[list[list[str]]] = []
    errors: list[BaseException] = []

    def work(words: list[str]) -> None:
        try:
            Tokenizer(words).tokenize(lines[0])
            results.append([Tokenizer(WORDS).tokenize(line) for line in lines])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(OTHER_WORDS[i % len(OTHER_WORDS)],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [want] * len(threads)


def test_words_are_cleaned() -> None:
    t = Tokenizer(["《实验动物管理条例》", " 科学技术进步法 ", "法", "", "《》"])
    assert t.words == frozenset({"实验动物管理条例", "科学技术进步法"})
    assert Tokenizer().words == frozenset()
    with pytest.raises(TypeError):
        Tokenizer("实验动物管理条例")


def test_from_regulations_uses_names_aliases_and_topics() -> None:
    regs = [
        Regulation(id="r1", name="实验动物管理条例", kind="regulation", aliases=["《实验动物条例》"], topic="实验动物"),
        Regulation(id="r2", name="中华人民共和国科学技术进步法", kind="law", aliases=["科学技术进步法"]),
    ]
    t = Tokenizer.from_regulations(regs)
    assert t.words == frozenset(
        {"实验动物管理条例", "实验动物条例", "实验动物", "中华人民共和国科学技术进步法", "科学技术进步法"}
    )
    assert t == Tokenizer(t.words)
    assert "中华人民共和国科学技术进步法" in t.tokenize("贯彻《中华人民共和国科学技术进步法》")


def test_tokenize_lowercases_and_drops_punctuation_and_stopwords(citing_line: str) -> None:
    t = Tokenizer(WORDS)
    tokens = t.tokenize(citing_line + " GDP增长与ABC")
    assert "gdp" in tokens and "abc" in tokens
    assert not any(tok in STOPWORDS for tok in tokens)
    assert all(tk.TOKEN_RE.search(tok) for tok in tokens)
    assert "《" not in tokens and "，" not in tokens and "。" not in tokens


def test_terms_are_words_plus_bigrams(citing_line: str) -> None:
    t = Tokenizer(WORDS)
    assert t.terms(citing_line) == t.tokenize(citing_line) + bigrams(citing_line)
    assert t.terms("实验动物", ["given"]) == ["given", "实验", "验动", "动物"]
    assert bigrams("GDP，增长") == ["gd", "dp", "增长"]


def test_pickles_as_its_words(citing_line: str) -> None:
    import pickle

    t = Tokenizer(WORDS)
    t.tokenize(citing_line)
    copy = pickle.loads(pickle.dumps(t))
    assert copy == t and copy.words == t.words
    assert copy.tokenize(citing_line) == t.tokenize(citing_line)
