"""The second stage: the fused top candidates re-scored with what the first stage cannot see.

The first stage ranks on one vector per passage and on bag-of-words BM25. Here the text of the top
candidates is read back and each gets ``weight`` × the share of the query's content words it contains
(coverage: a passage that holds every word of 行政执法人员培训 beats one that repeats 执法 ten times).
Costs one store read of ``depth`` passages and a substring test per word: well under a millisecond of
Python per query for the default depth of 50.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def coverage(terms: Sequence[str], text: str, weights: Mapping[str, float] | None = None, default: float = 5.0) -> float:
    """Share of ``terms`` found verbatim in ``text`` (0 when there are no terms); with ``weights`` (e.g. IDF),
    each term counts by its weight (``default`` for a term without one)."""
    if not terms:
        return 0.0
    if weights is None:
        return sum(1 for t in terms if t in text) / len(terms)
    total = sum(weights.get(t, default) for t in terms)
    return sum(weights.get(t, default) for t in terms if t in text) / total if total else 0.0


def rerank(
    ranked: list[tuple[int, float]], texts: Mapping[int, str], terms: Sequence[str], weight: float, depth: int = 50,
) -> list[tuple[int, float]]:
    """``ranked`` with its top ``depth`` re-scored as score + ``weight`` × coverage of ``terms`` and re-sorted;
    the scores are taken relative to the top one, so the weight means the same for any fusion."""
    if weight <= 0 or not terms or not ranked:
        return ranked
    head, tail = ranked[:depth], ranked[depth:]
    top = max(abs(head[0][1]), 1e-9)
    rescored = [(pid, s / top + weight * coverage(terms, texts.get(pid, ""))) for pid, s in head]
    rescored.sort(key=lambda ps: -ps[1])
    floor = rescored[-1][1] if rescored else 0.0
    # the tail stays below the re-scored head
    return rescored + [(pid, min(s / top, floor) - 1e-6) for pid, s in tail]


def content_terms(tokens: Sequence[str]) -> list[str]:
    """The query words worth testing for: jieba words of two characters or more, each once, without a
    compound whose parts are there too (search-mode jieba gives 营商, 环境 and 营商环境: a passage saying
    持续改善营商环境 holds the topic even without the compound 优化营商环境)."""
    words = [t for t in dict.fromkeys(tokens) if len(t) >= 2]
    return [t for t in words if not any(o != t and o in t for o in words)] or words


__all__ = ["content_terms", "coverage", "rerank"]
