"""Held-out test of a memory of labelled questions (issue 13): measured, not kept.

    python bench/question_memory_cv.py --data DIR   # the 10 fold adapters ~6 min (once, kept), the grid ~10 min

The memory: the query vectors of the STARD dev questions (``../shared/corpus/eval/stard-minfadian-dev.json``),
each pointing at its labelled 民法典 articles. For a question (``query_kind == "question"``), its ``k`` nearest
remembered questions by cosine vote for their articles, and ``λ`` × the vote is added to the fused score of
those articles' passages (top fused score 1; a voted article the rankers missed is brought in). Votes:
``max`` or ``sum`` over the neighbours naming an article of ``exp((cos − 1) / τ)``, or ``soft`` (a softmax
over the ``k`` neighbours, summed); ``μ`` > 0 also votes for the articles numbered ±1 at ``μ`` × the vote.
The lookup vector is the plain query vector, or its image under the query adapter blended half and half
(``adapted``: as the dense search sees it; the memory's vectors go through the same map).

Held out on top of the held-out query adapter: 5 folds of the STARD questions (random, and grouped by shared
articles: ``train_adapter.folds``), each fold answered with an adapter trained without it (as
``search_quality.adapter_held_out`` trains it; kept in ``--adapters``) and a memory of the other four folds.
The own lay questions and report queries are answered with the shipped adapter and a memory of every STARD
question. Last, the grid point chosen on four folds is scored on the fifth (nested CV).

Result on the corpus store (2026-12-02): the nearest remembered question shares an article with the
question only 27% of the time (the top-voted article is right for 24%, the fused ranking's first hit for
50%), so the memory can only break near-ties. Best on random folds (``plain sum 20 0.05 0.3 0.3``):
R@10 / MRR@10 0.741 / 0.597 → 0.755 / 0.628, but grouped folds 0.711 / 0.567 → 0.694 / 0.524; nested CV:
random 0.755 / 0.628, grouped unchanged (it picks settings that change nothing). Every setting that costs
the grouped folds at most 0.005 gains at most 0.007 MRR on the random ones; the adapted lookup is no better
than the plain one; the own lay questions move by < 0.01 and the report queries not at all. Also tried
(not in this script): a vote only for an article already in the top 3 and backed by half the neighbours
(+0.005 MRR random, grouped unchanged), and per-article centroids of the questions (right for 24% too).
Not shipped.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import policykg.search.adapter as adapter_module
import search_quality as sq
import train_adapter as ta
from policykg.api.kb import KnowledgeBase
from policykg.ingest.structure import cn_to_int
from policykg.search.evaluation import load_queries, load_stard, per_query
from policykg.search.filters import Filters
from policykg.search.query import query_kind
from policykg.search.ranking import FusionWeights

Key = tuple[str, str, int, float, float, float]  # lookup, vote, k, tau, lambda, mu
Ranked = list[tuple[int, float]]


def article_number(label: str) -> int | None:
    """第五十六条 → 56 (None for a label that is not a plain number)."""
    try:
        return cn_to_int(label.removeprefix("第").removesuffix("条"))
    except ValueError:
        return None


def votes(sims: np.ndarray, answers: Sequence[Sequence[str]], vote: str, k: int, tau: float) -> dict[str, float]:
    """Article label → vote of the ``k`` remembered questions nearest by ``sims``."""
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    s = sims[top]
    w = np.exp((s - s.max()) / tau) if vote == "soft" else np.exp((np.minimum(s, 1.0) - 1.0) / tau)
    if vote == "soft":
        w = w / w.sum()
    out: dict[str, float] = {}
    for j, wj in zip(top.tolist(), w.tolist(), strict=True):
        for a in answers[j]:
            out[a] = max(out.get(a, 0.0), wj) if vote == "max" else out.get(a, 0.0) + wj
    return out


def remember(ranked: Ranked, voted: dict[str, float], pid_of: dict[str, int], lam: float, mu: float) -> Ranked:
    """``ranked`` with ``lam`` × each voted article's vote added to its passage (``mu`` × that to its ±1 neighbours)."""
    scores = dict(ranked)
    by_number = {n: a for a in pid_of if (n := article_number(a)) is not None}
    for a, v in voted.items():
        if a in pid_of:
            scores[pid_of[a]] = scores.get(pid_of[a], 0.0) + lam * v
        n = article_number(a)
        if mu > 0 and n is not None:
            for m in (n - 1, n + 1):
                if m in by_number:
                    pid = pid_of[by_number[m]]
                    scores[pid] = scores.get(pid, 0.0) + mu * lam * v
    return sorted(scores.items(), key=lambda kv: -kv[1])


def blended(adapter: adapter_module.QueryAdapter, x: np.ndarray, mix: float = 0.5) -> np.ndarray:
    """Vectors as the dense search sees a question: ``mix`` × adapted + (1 − ``mix``) × plain, normalised."""
    y = mix * adapter(x) + (1.0 - mix) * x
    return np.asarray(y / np.linalg.norm(y, axis=-1, keepdims=True), dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("policykg-data"))
    ap.add_argument("--stard", type=Path, default=sq.STARD_FILE)
    ap.add_argument("--cache", type=Path, default=Path("/tmp"), help="directory of the query-vector caches")
    ap.add_argument("--adapters", type=Path, default=Path("/tmp/policykg-fold-adapters"), help="fold adapters (reused)")
    args = ap.parse_args()

    kb = KnowledgeBase(args.data)
    own = load_queries(sq.QUERIES_FILE)
    sets = [
        sq.LabelledSet("stard-dev", load_stard(args.stard), Filters(doc_type="regulation")),
        sq.LabelledSet("own-lay", [q for q in own if q.kind == "lay"], Filters()),
        sq.LabelledSet("own-reports", [q for q in own if q.kind != "lay"], Filters()),
    ]
    kb.searcher.refresh()
    encoder = kb.encoder()
    model_key = hashlib.sha1(repr(type(encoder)).encode() + str(getattr(encoder, "name", "")).encode()).hexdigest()[:8]
    vectors = sq.CachedVectors(encoder, args.cache / f"policykg-qvecs-{model_key}.npz")
    runner = sq.Runner(kb, sets, vectors)
    runner.judge._doc = functools.lru_cache(maxsize=None)(runner.judge._doc)
    searcher = runner.searcher
    searcher.refresh()
    qv = vectors.encode_queries([q.q for q in runner.queries])

    store = kb.store
    corpus = ta.load_corpus(store)
    stard = ta.stard_examples(store, corpus, args.stard)
    row_of = {q.q: i for i, q in enumerate(runner.queries) if q.id.startswith("stard-")}
    rows = np.array([row_of[e.text] for e in stard])
    answers = [list(e.labels) for e in stard]
    stard_v = qv[rows]
    minfadian = next(r.doc_id for r in store.regulations() if r.name == ta.MINFADIAN and r.doc_id)
    pid_of = {p.article: p.id for p in store.passages() if p.doc_id == minfadian and p.article}
    weights = FusionWeights()
    searcher.weights = weights

    def rank(i: int) -> Ranked:
        return searcher._rank(runner.queries[i].q, "hybrid", runner.filters[i], weights.depth, qv[i: i + 1])

    # base rankings (no memory): STARD per scheme with the fold's adapter, the own sets with the shipped one
    shipped = adapter_module.load_adapter()
    assert shipped is not None
    own_rows = [i for g in runner.groups[1:] for i in g.tolist()]
    own_base = {i: rank(i) for i in own_rows}
    schemes: dict[str, dict[str, Any]] = {}
    free: list[ta.Example] | None = None
    free_q = np.zeros(0)
    loader = adapter_module.load_adapter
    try:
        for scheme in ("random", "grouped"):
            folds = ta.folds(stard, sq.FOLDS, scheme == "grouped")
            adapters, base = [], {}
            for f, test in enumerate(folds):
                path = args.adapters / f"{scheme}-{f}.npz"
                if not path.exists():
                    if free is None:
                        free = ta.free_examples(store, corpus)
                        free_q = ta.encode([e.text for e in free], args.cache / "policykg-adapter-queries.npz")
                    train = np.setdiff1d(np.arange(len(stard)), test)
                    fit = ta.fit_average(ta.Setting(), np.concatenate([stard_v[train], free_q]),
                                         [stard[i] for i in train] + free, corpus.vectors, seeds=3)
                    fit.save(path)
                adapter = adapter_module.QueryAdapter.load(path)
                adapters.append(adapter)
                adapter_module.load_adapter = lambda *a, _f=adapter, **kw: _f
                base.update({int(i): rank(int(rows[i])) for i in test})
            schemes[scheme] = {"folds": folds, "adapters": adapters, "base": base}
    finally:
        adapter_module.load_adapter = loader

    def stard_metrics(results: dict[int, Ranked]) -> np.ndarray:
        order = sorted(results)
        hits = [searcher._hits(results[i], stard[i].text, 10) for i in order]
        return np.array(per_query([runner.queries[rows[i]] for i in order], hits, runner.judge), float)

    def own_metrics(results: dict[int, Ranked]) -> np.ndarray:
        hits = [searcher._hits(results[i], runner.queries[i].q, 10) for i in own_rows]
        return np.array(per_query([runner.queries[i] for i in own_rows], hits, runner.judge), float)

    n_lay = len(runner.groups[1])
    questions = [i for i in own_rows if query_kind(runner.queries[i].q) == "question"]
    base_m = {s: stard_metrics(schemes[s]["base"]) for s in schemes}
    base_own = own_metrics(own_base)
    print(f"{len(stard)} STARD questions; own: {n_lay} lay, {len(own_rows) - n_lay} report queries "
          f"({len(questions)} of the own queries are questions)")

    def fmt(m: np.ndarray) -> str:
        return f"{m[:, 0].mean():.3f} / {m[:, 1].mean():.3f}"

    print(f"{'setting (lookup vote k tau lambda mu)':44} {'random folds':>15} {'grouped folds':>15} {'own lay':>15} {'own reports':>15}")
    print(f"{'no memory (held-out adapter)':44} {fmt(base_m['random']):>15} {fmt(base_m['grouped']):>15} "
          f"{fmt(base_own[:n_lay]):>15} {fmt(base_own[n_lay:]):>15}")

    grid: dict[Key, dict[str, np.ndarray]] = {}
    for lookup in ("plain", "adapted"):
        sims: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for s, info in schemes.items():
            sims[s] = []
            for test, adapter in zip(info["folds"], info["adapters"], strict=True):
                train = np.setdiff1d(np.arange(len(stard)), test)
                m_v, t_v = stard_v[train], stard_v[test]
                if lookup == "adapted":
                    m_v, t_v = blended(adapter, m_v), blended(adapter, t_v)
                sims[s].append((train, t_v @ m_v.T))
        mem_all = stard_v if lookup == "plain" else blended(shipped, stard_v)
        own_q = qv[questions] if lookup == "plain" else blended(shipped, qv[questions])
        own_sims = own_q @ mem_all.T
        for vote, k, tau in itertools.product(("max", "sum", "soft"), (5, 20), (0.02, 0.05)):
            voted: dict[str, dict[int, dict[str, float]]] = {}
            for s, info in schemes.items():
                voted[s] = {}
                for (train, sm), test in zip(sims[s], info["folds"], strict=True):
                    for t, i in enumerate(test.tolist()):
                        voted[s][i] = votes(sm[t], [answers[j] for j in train], vote, k, tau)
            own_voted = {i: votes(own_sims[j], answers, vote, k, tau) for j, i in enumerate(questions)}
            for lam, mu in itertools.product((0.1, 0.3), (0.0, 0.3)):
                key: Key = (lookup, vote, k, tau, lam, mu)
                out = {s: stard_metrics({i: remember(r, voted[s][i], pid_of, lam, mu) for i, r in info["base"].items()})
                       for s, info in schemes.items()}
                out["own"] = own_metrics({i: remember(r, own_voted[i], pid_of, lam, mu) if i in own_voted else r
                                          for i, r in own_base.items()})
                grid[key] = out
                changed = int((np.abs(out["own"][n_lay:] - base_own[n_lay:]).sum(1) > 0).sum())
                print(f"{' '.join(map(str, key)):44} {fmt(out['random']):>15} {fmt(out['grouped']):>15} "
                      f"{fmt(out['own'][:n_lay]):>15} {fmt(out['own'][n_lay:]):>15}  reports changed: {changed}", flush=True)

    none: Key = ("none", "", 0, 0.0, 0.0, 0.0)
    grid[none] = {"random": base_m["random"], "grouped": base_m["grouped"], "own": base_own}
    print("\nnested CV (the grid point best on four folds, scored on the fifth; 'no memory' among the choices):")
    for s, info in schemes.items():
        held = np.zeros_like(base_m[s])
        order = sorted(info["base"])
        pos = {i: n for n, i in enumerate(order)}
        picks = []
        for test in info["folds"]:
            train_rows = [pos[i] for i in order if i not in set(test.tolist())]
            best = max(grid, key=lambda key: float(grid[key][s][train_rows].mean(0).sum()))
            picks.append(" ".join(map(str, best)))
            test_rows = [pos[i] for i in test.tolist()]
            held[test_rows] = grid[best][s][test_rows]
        print(f"  {s:8} {fmt(base_m[s])} -> {fmt(held)}   chosen: {sorted(set(picks))}")


if __name__ == "__main__":
    main()
