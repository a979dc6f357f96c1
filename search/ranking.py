"""Hybrid ranking: dense (faiss) and BM25 candidates fused by weighted reciprocal rank."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class FusionWeights:
    """Weights of the fused score, tuned on bench/data/queries.jsonl (see bench/search_quality.py)."""

    dense: float = 1.0
    bm25: float = 0.7
    rrf_k: float = 10.0
    depth: int = 100  # candidates taken from each ranker
    regulation_boost: float = 0.01  # for articles of a regulation the query names


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
