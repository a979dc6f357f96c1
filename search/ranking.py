"""Hybrid ranking: dense (faiss) and BM25 candidates fused by weighted reciprocal rank, or by their
normalised scores with a convex weight that depends on the kind of query (question or topic)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["hybrid", "dense", "bm25"]
Fusion = Literal["rrf", "score"]


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the fused score, tuned on bench/data/queries.jsonl (see bench/search_quality.py)."""

    dense: float = 1.0
    bm25: float = 0.7
    rrf_k: float = 10.0
    depth: int = 100  # candidates taken from each ranker
    regulation_boost: float = 0.01  # for articles of a regulation the query names
    # The defaults below are what bench/search_quality.py measured best without a drop on any labelled set
    # (STARD dev, own lay questions, own report topics); see the README's Quality table.
    fusion: Fusion = "score"  # "score": min-max normalised scores, convex weight below; "rrf": ranks only
    dense_question: float = 0.7  # share of the dense score for a question (score fusion)
    dense_topic: float = 0.6  # share of the dense score for a topic phrase (score fusion)
    score_regulation_boost: float = 0.1  # regulation_boost on the scale of score fusion (top score 1)
    # added to the fused score of the passages of the reports of a year or an issuer the query names
    # (深圳2019年营商环境: Shenzhen's reports reviewing or published in 2019); 0: off
    named_boost: float = 0.3
    strip_scaffolding: bool = True  # BM25 sees the question without 请问/怎么办/可以吗 …
    expand_terms: bool = True  # BM25 also sees the statutory words for colloquial ones (search/terms.py)
    drop_headings: bool = True  # a passage that is only a heading is never a hit
    rerank_question: float = 0.0  # weight of the second stage's query-term coverage for a question (0: off)
    rerank_topic: float = 0.3  # the same for a topic phrase
    # MMR-like penalty (× the top score) per earlier hit of the same report year, when neither the query nor the
    # filters name a year (0: off); a passage of a regulation is never penalised. The labelled report queries
    # hold one passage per report: with the sentence head start below, 0.04 takes their R@10 from 0.649 to 0.656
    # (searched among the reports only, 0.723 to 0.734; 0.03-0.06 alike), MRR unchanged (the best hit stays first)
    year_diversity: float = 0.04
    # the query-side linear map trained on lay questions (search/adapter.py) in hybrid search: for questions
    # only ("questions"), every query ("all") or none ("off"); topic phrases lose recall with it
    adapter: Literal["off", "questions", "all"] = "questions"
    adapter_mix: float = 0.5  # the adapted query vector's share against the plain one (1: adapted only; 0.5 measured best)
    # sentence-level vectors with max-sim (a passage scores as its best sentence when that beats its whole
    # text) for topic phrases ("topics"), every query ("all") or none ("off"); questions lose with it
    sentences: Literal["off", "topics", "all"] = "topics"
    # the head start of a best-sentence cosine over its passage's own cosine (sentences on): a passage whose match
    # sits in one sentence edges past one that matches as a whole by as much. Own report queries 0.624 / 0.709
    # -> 0.649 / 0.732 alone, 0.656 / 0.731 with year diversity (0.005-0.03 all help; 0.01 chosen held out)
    sentence_offset: float = 0.01


@dataclass
class Candidates:
    """Ranked passage ids from one ranker (best first) and their raw scores."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


def top_k(scores: np.ndarray, ids: np.ndarray, k: int, mask: np.ndarray | None = None) -> Candidates:
    """Best ``k`` of ``scores`` (aligned with ``ids``) where ``mask`` allows and the score is positive."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    valid = scores > 0
    n = int(valid.sum())
    if n == 0:
        return Candidates()
    k = min(k, n)
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.argsort(-scores[part], kind="stable")]
    return Candidates(ids[order], scores[order])


def best_of(a: Candidates, b: Candidates) -> Candidates:
    """Both candidate lists as one: each passage with the higher of its two scores, best first."""
    if not len(b.ids):
        return a
    if not len(a.ids):
        return b
    ids = np.concatenate([a.ids, b.ids])
    scores = np.concatenate([a.scores, b.scores])
    order = np.argsort(-scores, kind="stable")
    first = np.sort(np.unique(ids[order], return_index=True)[1])
    return Candidates(ids[order][first], scores[order][first])


def fuse(
    dense: Candidates,
    bm25: Candidates,
    weights: FusionWeights,
    boosted: set[int] | None = None,
) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion; ``boosted`` passages get ``regulation_boost`` added."""
    scores: dict[int, float] = {}
    for w, cand in ((weights.dense, dense), (weights.bm25, bm25)):
        for rank, pid in enumerate(cand.ids.tolist()):
            scores[pid] = scores.get(pid, 0.0) + w / (weights.rrf_k + rank + 1)
    if boosted:
        for pid in scores:
            if pid in boosted:
                scores[pid] += weights.regulation_boost
    return sorted(scores.items(), key=lambda kv: -kv[1])


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped to [0, 1] over the candidate list (all ones when they are equal)."""
    if not len(scores):
        return scores.astype(np.float32)
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo < 1e-9:
        return np.ones(len(scores), np.float32)
    return ((scores - lo) / (hi - lo)).astype(np.float32)


def fuse_scores(
    dense: Candidates,
    bm25: Candidates,
    dense_share: float,
    boost: float = 0.0,
    boosted: set[int] | None = None,
) -> list[tuple[int, float]]:
    """Convex fusion of min-max normalised scores: ``dense_share`` × dense + (1 − ``dense_share``) × BM25.

    A passage missing from one ranker's candidates gets 0 from it; ``boosted`` passages get ``boost`` added.
    """
    scores: dict[int, float] = {}
    for w, cand in ((dense_share, dense), (1.0 - dense_share, bm25)):
        for pid, s in zip(cand.ids.tolist(), minmax(cand.scores).tolist(), strict=True):
            scores[pid] = scores.get(pid, 0.0) + w * s
    if boosted:
        for pid in scores:
            if pid in boosted:
                scores[pid] += boost
    return sorted(scores.items(), key=lambda kv: -kv[1])


def diversify_years(
    ranked: list[tuple[int, float]], year_of: dict[int, int | None], penalty: float, depth: int = 50,
) -> list[tuple[int, float]]:
    """Re-order the top ``depth`` so that years alternate: each earlier pick from the same year costs
    ``penalty`` × the top score (a mild MMR over years). Passages without a year are never penalised.

    ``ranked`` is best first; each passage keeps its score less its penalty, so the scores stay in order
    (the tail is kept below the head). One pass over the years per pick: ~0.3 ms for the default depth."""
    if penalty <= 0 or len(ranked) < 2:
        return ranked
    head, tail = ranked[:depth], ranked[depth:]
    step = penalty * max(abs(head[0][1]), 1e-9)
    queues: dict[int | None, list[tuple[int, int, float]]] = {}  # year -> its passages (position, id, score), best first
    for at, (pid, s) in enumerate(head):
        queues.setdefault(year_of.get(pid), []).append((at, pid, s))
    nxt = dict.fromkeys(queues, 0)
    count = dict.fromkeys(queues, 0)
    picked: list[tuple[int, float]] = []
    for _ in range(len(head)):
        best: tuple[float, int, int | None] | None = None  # (value, -position, year)
        for y, items in queues.items():
            if nxt[y] < len(items):
                at, _pid, s = items[nxt[y]]
                cand = (s - (step * count[y] if y is not None else 0.0), -at, y)
                if best is None or cand > best:
                    best = cand
        assert best is not None
        value, _, y = best
        picked.append((queues[y][nxt[y]][1], value))
        nxt[y] += 1
        count[y] += 1
    floor = picked[-1][1]
    return picked + [(pid, min(s, floor) - 1e-6) for pid, s in tail]
