"""Chinese tokenisation for BM25: jieba, with regulation names and aliases as words."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

import jieba

_lock = threading.Lock()
_added: set[str] = set()
TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]")
STOPWORDS = frozenset(
    ["的", "了", "和", "与", "及", "等", "在", "对", "为", "是", "把", "将", "从", "以", "并", "或", "被", "由", "于", "中", "上", "下", "之", "其", "这", "那", "也", "都", "而", "又", "就", "要", "能", "可", "我", "我们", "你", "他", "她", "它", "有", "没有", "不", "吗", "呢", "吧", "啊", "哪些", "什么", "怎么", "如何", "怎样", "是否", "可以", "能否", "一个", "一些"]
)

jieba.setLogLevel(logging.WARNING)


def add_words(words: Iterable[str]) -> None:
    """Teach jieba domain words (regulation names, aliases, topics) once per process."""
    with _lock:
        for w in words:
            w = w.strip("《》 ")
            if len(w) >= 2 and w not in _added:
                jieba.add_word(w, freq=20000)
                _added.add(w)


def tokenize(text: str) -> list[str]:
    """Search-mode jieba tokens, lower-cased, without punctuation and stop words."""
    tokens = []
    for tok in jieba.cut_for_search(text):
        tok = tok.strip().lower()
        if tok and TOKEN_RE.search(tok) and tok not in STOPWORDS:
            tokens.append(tok)
    return tokens


_NON_WORD = re.compile(r"[^\w\u4e00-\u9fff]+")


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the Chinese/alphanumeric runs (BM25 recall for paraphrases)."""
    out: list[str] = []
    for run in _NON_WORD.split(text.lower()):
        out.extend(run[i: i + 2] for i in range(len(run) - 1))
    return out


def bm25_terms(text: str, words: list[str] | None = None) -> list[str]:
    """What BM25 indexes and queries: jieba words plus character bigrams."""
    return (tokenize(text) if words is None else words) + bigrams(text)
