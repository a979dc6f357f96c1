"""Chinese tokenisation for BM25: a :class:`Tokenizer` object over jieba, with domain words of its own.

Each :class:`Tokenizer` holds a private ``jieba.Tokenizer`` with its words (regulation names, aliases,
topics) added; jieba's global dictionary is never touched, so the same text gives the same tokens in
any process, whatever other tokenizers were built before. jieba instances are shared per word set
(a small LRU), and each is a copy of one base dictionary loaded once per process.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import jieba

if TYPE_CHECKING:
    from policykg.graph.model import Regulation

TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]")
STOPWORDS = frozenset(
    ["的", "了", "和", "与", "及", "等", "在", "对", "为", "是", "把", "将", "从", "以", "并", "或", "被", "由", "于", "中", "上", "下", "之", "其", "这", "那", "也", "都", "而", "又", "就", "要", "能", "可", "我", "我们", "你", "他", "她", "它", "有", "没有", "不", "吗", "呢", "吧", "啊", "哪些", "什么", "怎么", "如何", "怎样", "是否", "可以", "能否", "一个", "一些"]
)
WORD_FREQ = 20000  # jieba frequency given to domain words: high enough to keep them whole
MIN_WORD_LEN = 2

jieba.setLogLevel(logging.WARNING)

_NON_WORD = re.compile(r"[^\w\u4e00-\u9fff]+")
_CACHE_SIZE = 4
_lock = threading.Lock()
_base: jieba.Tokenizer | None = None  # jieba's default dictionary, loaded once; never given words
_by_words: OrderedDict[frozenset[str], jieba.Tokenizer] = OrderedDict()


def clean_words(words: Iterable[str]) -> frozenset[str]:
    """Domain words as a tokenizer keeps them: without 《》 and surrounding spaces, 2 characters or more."""
    if isinstance(words, str):
        raise TypeError("words must be an iterable of words, not one string")
    return frozenset(w for w in (w.strip("《》 ") for w in words) if len(w) >= MIN_WORD_LEN)


def _jieba_for(words: frozenset[str]) -> jieba.Tokenizer:
    """The jieba instance for ``words`` (built on first request, then kept in a small LRU)."""
    global _base
    with _lock:
        found = _by_words.get(words)
        if found is not None:
            _by_words.move_to_end(words)
            return found
        if _base is None:
            base = jieba.Tokenizer()
            base.initialize()  # reads jieba's dictionary (~0.5 s)
            _base = base
        # A copy of the base prefix dictionary is what jieba.Tokenizer.initialize() would load, ~100x faster.
        seg = jieba.Tokenizer()
        seg.FREQ, seg.total, seg.initialized = dict(_base.FREQ), _base.total, True
        for w in sorted(words):
            seg.add_word(w, freq=WORD_FREQ)
        _by_words[words] = seg
        while len(_by_words) > _CACHE_SIZE:
            _by_words.popitem(last=False)
        return seg


class Tokenizer:
    """jieba search-mode tokenisation with its own domain words (see the module docstring).

    Construction is cheap; the jieba instance is made (or taken from the cache) on first use.
    """

    def __init__(self, words: Iterable[str] = ()) -> None:
        self.words: frozenset[str] = clean_words(words)
        self._jieba: jieba.Tokenizer | None = None

    @classmethod
    def from_regulations(cls, regulations: Iterable[Regulation]) -> Tokenizer:
        """A tokenizer knowing the names, aliases and topics of ``regulations`` as words."""
        return cls(n for r in regulations for n in (r.name, *r.aliases, r.topic or ""))

    def _segmenter(self) -> jieba.Tokenizer:
        seg = self._jieba
        if seg is None:  # two threads may both look it up: they get the same cached instance
            seg = self._jieba = _jieba_for(self.words)
        return seg

    def tokenize(self, text: str) -> list[str]:
        """Search-mode jieba tokens, lower-cased, without punctuation and stop words."""
        tokens = []
        for tok in self._segmenter().cut_for_search(text):
            tok = tok.strip().lower()
            if tok and TOKEN_RE.search(tok) and tok not in STOPWORDS:
                tokens.append(tok)
        return tokens

    def terms(self, text: str, words: list[str] | None = None) -> list[str]:
        """What BM25 indexes and queries: jieba words (``words`` if already known) plus character bigrams."""
        return (self.tokenize(text) if words is None else words) + bigrams(text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and other.words == self.words

    def __hash__(self) -> int:
        return hash(self.words)

    def __reduce__(self) -> tuple[Any, ...]:  # pickles (e.g. to Ray workers) as its words only
        return (Tokenizer, (sorted(self.words),))

    def __repr__(self) -> str:
        return f"Tokenizer({len(self.words)} words)"


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the Chinese/alphanumeric runs (BM25 recall for paraphrases)."""
    out: list[str] = []
    for run in _NON_WORD.split(text.lower()):
        out.extend(run[i: i + 2] for i in range(len(run) - 1))
    return out


__all__ = ["STOPWORDS", "Tokenizer", "bigrams", "clean_words"]
