"""Recall@10 and MRR@10 of search on the labelled sets, with an ablation table and two peers.

    python bench/search_quality.py --data policykg-data              # the table (README "Quality")
    python bench/search_quality.py --data policykg-data --no-txtai   # without the txtai peer
    python bench/search_quality.py --data policykg-data --sweep      # RRF weights grid (the old fusion)

The store must hold the corpus: `policykg ingest --manifest ../shared/corpus/manifest.csv`.

Sets: **stard-dev**, the 459 STARD questions of ../shared/corpus/eval/stard-minfadian-dev.json (labels:
民法典 articles; searched over every regulation of the store, ``type=regulation``), and
bench/data/queries.jsonl split into **own-lay** (questions answered by articles) and **own-reports**
(topics, paraphrases and keywords over the work reports of many years; its cross-year part).

Rows: ``bm25``, ``dense``, ``hybrid`` (RRF, as before this table: every technique off), each technique
switched on alone, all of them together (the shipped defaults, FusionWeights()), and two peers on the same
passages and vectors in the same process: rank-bm25 over jieba words + flat faiss fused by RRF (k=60),
and txtai's default hybrid index (its BM25 and its fusion, our vectors through an external transform).
Weights are chosen by 5-fold cross-validation over the pooled queries (STARD and own set); the
``(CV)`` rows are held-out figures: each query scored with the weights chosen on the four other folds.
Query vectors are cached in /tmp (``--cache``), so a second run encodes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from policykg.api.kb import KnowledgeBase
from policykg.search.evaluation import Judge, Judged, load_queries, load_stard, per_query
from policykg.search.filters import Filters
from policykg.search.query import query_kind
from policykg.search.ranking import FusionWeights, Mode
from policykg.search.searcher import Hit, Searcher

from common import QUERIES_FILE

STARD_FILE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "eval" / "stard-minfadian-dev.json"
SHARES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # dense share of score fusion
RERANKS = (0.0, 0.1, 0.2, 0.3)  # weight of the second stage's coverage
DIVERSITIES = (0.0, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1)  # year-diversity penalty on the shipped ranking
OFFSETS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)  # head start of a best-sentence cosine over its passage's own
FOLDS = 5

Metrics = np.ndarray  # (n_queries, 2): recall@10, reciprocal rank@10


@dataclass
class LabelledSet:
    name: str
    queries: list[Judged]
    filters: Filters


class CachedVectors:
    """Query vectors kept in an .npz in /tmp (keyed by the model and the text), encoded only when missing."""

    def __init__(self, encoder: Any, path: Path) -> None:
        self.encoder = encoder
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as z:
                texts = [str(t) for t in z["texts"]]
                self.vectors = dict(zip(texts, z["vectors"], strict=True))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.encoder.encode_queries(missing), strict=True))
            texts_all = list(self.vectors)
            np.savez(self.path, texts=np.array(texts_all), vectors=np.stack([self.vectors[t] for t in texts_all]))
        return np.stack([self.vectors[t] for t in texts])

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return np.asarray(self.encoder.encode_passages(texts, batch_size=batch_size, show_progress=show_progress))


def folds_of(n: int, seed: int = 13) -> np.ndarray:
    """A fold number per query (seeded shuffle)."""
    return np.random.default_rng(seed).permutation(np.arange(n) % FOLDS)


def objective(m: Metrics) -> float:
    return float(m[:, 0].mean() + m[:, 1].mean()) if len(m) else 0.0


def cv_select(grid: dict[Any, Metrics], groups: list[np.ndarray], fold: np.ndarray) -> tuple[Metrics, dict[int, Any]]:
    """Held-out metrics: for each fold, the grid point best on the other folds (each group of queries —
    one per set — weighs the same in the objective). Returns the held-out rows and the choice per fold."""
    keys = list(grid)
    n = next(iter(grid.values())).shape[0]
    out = np.zeros((n, 2))
    chosen = {}
    for f in range(FOLDS):
        train = fold != f

        def value(key: Any, train: np.ndarray = train) -> float:
            return sum(objective(grid[key][g[train[g]]]) for g in groups if train[g].any())

        best = max(keys, key=value)
        chosen[f] = best
        out[fold == f] = grid[best][fold == f]
    return out, chosen


def best_on_all(grid: dict[Any, Metrics], groups: list[np.ndarray]) -> Any:
    return max(grid, key=lambda key: sum(objective(grid[key][g]) for g in groups))


class Runner:
    """Runs a searcher with given weights over the pooled sets and returns per-query metrics."""

    def __init__(self, kb: KnowledgeBase, sets: list[LabelledSet], vectors: CachedVectors) -> None:
        self.kb = kb
        self.sets = sets
        self.judge = Judge(kb.documents(), lambda d: kb.document(d).text)
        self.years = {d.id: d.year for d in kb.documents() if d.doc_type == "report"}
        self.searcher = Searcher(kb.store, kb.searcher.vectors, kb.searcher.keywords, lambda: vectors)
        self.queries = [q for s in sets for q in s.queries]
        self.filters = [s.filters for s in sets for _ in s.queries]
        offsets = np.cumsum([0] + [len(s.queries) for s in sets])
        self.groups = [np.arange(offsets[i], offsets[i + 1]) for i in range(len(sets))]

    def run(self, weights: FusionWeights, mode: Mode = "hybrid") -> Metrics:
        return self.metrics(self.results(weights, mode))

    def results(self, weights: FusionWeights, mode: Mode = "hybrid") -> list[list[Hit]]:
        self.searcher.weights = weights
        return self.searcher.search_many([(q.q, 10, f, mode) for q, f in zip(self.queries, self.filters, strict=True)])

    def years_covered(self, results: list[list[Hit]]) -> tuple[float, int]:
        """Over the queries labelled in two or more years: the mean share of those years with a labelled
        passage among the top 10 (a topic followed across the years), and how many such queries."""
        shares = []
        for q, hits in zip(self.queries, results, strict=True):
            doc_ids = {d for d in (self.judge._doc(item["path"]) for item in q.relevant) if d}
            years = {self.years.get(d) for d in doc_ids} - {None}
            if len(years) < 2:
                continue
            found = {self.years.get(h.doc_id) for h in hits[:10] if any(self.judge.matches(h, item) for item in q.relevant)}
            shares.append(len(found & years) / len(years))
        return (float(np.mean(shares)) if shares else 0.0), len(shares)

    def metrics(self, results: list[list[Hit]]) -> Metrics:
        return np.array(per_query(self.queries, results, self.judge), dtype=np.float64).reshape(-1, 2)


def hits_from_ids(kb: KnowledgeBase, ids: Sequence[int]) -> list[Hit]:
    """Bare hits for passage ids (what the judge needs: document, article, span)."""
    passages = {p.id: p for p in kb.store.passages(list(ids))}
    out = []
    for pid in ids:
        p = passages.get(pid)
        if p is not None:
            out.append(Hit(p.doc_id, "", None, None, "", p.section, p.article, p.text, p.start, p.end, 0.0, pid))
    return out


def peer_rank_bm25_faiss(kb: KnowledgeBase, runner: Runner, vectors: CachedVectors) -> Metrics:
    """rank-bm25 (BM25Okapi over jieba.lcut of the embedded text) + flat faiss, RRF k=60 over the top 100 each."""
    import faiss
    import jieba
    from rank_bm25 import BM25Okapi

    store = kb.store
    dim = store.vector_dim() or 384
    ids, vecs = store.passage_vectors(dim)
    texts = dict(store.passage_embed_texts())
    bm25 = BM25Okapi([[w for w in jieba.lcut(texts[int(i)]) if w.strip()] for i in ids])
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(np.ascontiguousarray(vecs, dtype=np.float32))
    catalog = kb.searcher.catalog
    pos = {int(p): i for i, p in enumerate(catalog.ids)}
    order = np.array([pos[int(i)] for i in ids])
    results = []
    qv = vectors.encode_queries([q.q for q in runner.queries])
    for i, (q, f) in enumerate(zip(runner.queries, runner.filters, strict=True)):
        mask = catalog.mask(f)
        allowed = np.ones(len(ids), bool) if mask is None else mask[order]
        s_bm = np.asarray(bm25.get_scores([w for w in jieba.lcut(q.q) if w.strip()]))
        s_bm = np.where(allowed, s_bm, -np.inf)
        s_de = (vecs @ qv[i]).astype(np.float64)
        s_de = np.where(allowed, s_de, -np.inf)
        fused: dict[int, float] = {}
        for s in (s_bm, s_de):
            top = np.argsort(-s, kind="stable")[:100]
            for rank, j in enumerate(top):
                if np.isfinite(s[j]):
                    fused[int(ids[j])] = fused.get(int(ids[j]), 0.0) + 1 / (60 + rank + 1)
        best = [pid for pid, _ in sorted(fused.items(), key=lambda kv: -kv[1])[:10]]
        results.append(hits_from_ids(kb, best))
    return runner.metrics(results)


def peer_txtai(kb: KnowledgeBase, runner: Runner, vectors: CachedVectors) -> Metrics | None:
    """txtai's default hybrid index (hybrid=True: its BM25 and its score fusion) over the same passages,
    our stored passage vectors and query vectors through an external transform; one index per filter."""
    try:
        from txtai import Embeddings
    except ImportError:
        return None
    store = kb.store
    dim = store.vector_dim() or 384
    ids, vecs = store.passage_vectors(dim)
    texts = dict(store.passage_embed_texts())
    lookup: dict[str, np.ndarray] = {}
    for pid, v in zip(ids.tolist(), vecs, strict=True):
        lookup.setdefault(texts[pid], v)
    qv = vectors.encode_queries([q.q for q in runner.queries])
    for q, v in zip(runner.queries, qv, strict=True):
        lookup[q.q] = v

    def transform(batch: list[Any]) -> np.ndarray:
        return np.stack([lookup[t if isinstance(t, str) else t[1]] for t in batch])

    catalog = kb.searcher.catalog
    indexes: dict[Filters, Any] = {}
    results = []
    for q, f in zip(runner.queries, runner.filters, strict=True):
        if f not in indexes:
            allowed = catalog.allowed(f)
            keep = set(ids.tolist()) if allowed is None else set(allowed.tolist())
            emb = Embeddings(method="external", transform=transform, hybrid=True, content=False, dimensions=vecs.shape[1])
            emb.index([(pid, texts[pid], None) for pid in ids.tolist() if pid in keep])
            indexes[f] = emb
        found = indexes[f].search(q.q, 10)
        results.append(hits_from_ids(kb, [int(r[0]) for r in found]))
    return runner.metrics(results)


def print_row(name: str, m: Metrics, runner: Runner, extra: str = "") -> None:
    cells = []
    for g in runner.groups:
        sub = m[g]
        cells.append(f"{sub[:, 0].mean():6.3f} {sub[:, 1].mean():6.3f}")
    print(f"{name:34} " + "  ".join(cells) + (f"  {extra}" if extra else ""))


def second_stage_ms(runner: Runner, weights: FusionWeights) -> float:
    """Extra time per query of the second stage (ranking with it minus without it), in ms."""
    s = runner.searcher
    qv = s._encoder().encode_queries([q.q for q in runner.queries])

    def ranking(w: FusionWeights) -> float:
        s.weights = w
        t = time.perf_counter()
        for i, (q, f) in enumerate(zip(runner.queries, runner.filters, strict=True)):
            s._rank(q.q, "hybrid", f, w.depth, qv[i: i + 1])
        return (time.perf_counter() - t) / len(runner.queries) * 1000

    on = replace(weights, rerank_question=max(weights.rerank_question, weights.rerank_topic))
    on = replace(on, rerank_topic=on.rerank_question)
    off = replace(weights, rerank_question=0.0, rerank_topic=0.0)
    ranking(on)  # warm
    return min(ranking(on) for _ in range(2)) - min(ranking(off) for _ in range(2))


def sentence_stage_ms(runner: Runner, weights: FusionWeights) -> float:
    """Extra time per topic query of the best-sentence search (ranking with it minus without it), in ms."""
    s = runner.searcher
    topics = [(q, f) for q, f in zip(runner.queries, runner.filters, strict=True) if query_kind(q.q) == "topic"]
    qv = s._encoder().encode_queries([q.q for q, _ in topics])

    def ranking(w: FusionWeights) -> float:
        s.weights = w
        t = time.perf_counter()
        for i, (q, f) in enumerate(topics):
            s._rank(q.q, "hybrid", f, w.depth, qv[i: i + 1])
        return (time.perf_counter() - t) / max(len(topics), 1) * 1000

    on, off = replace(weights, sentences="topics"), replace(weights, sentences="off")
    ranking(on)  # warm
    return min(ranking(on) for _ in range(2)) - min(ranking(off) for _ in range(2))


def diversity_ms(runner: Runner, weights: FusionWeights) -> float:
    """Time per query of the year-diversity re-ordering of a ranking, in ms."""
    s = runner.searcher
    s.weights = weights
    qv = s._encoder().encode_queries([q.q for q in runner.queries])
    rankings = [(s._rank(q.q, "hybrid", f, weights.depth, qv[i: i + 1]), q.q, f)
                for i, (q, f) in enumerate(zip(runner.queries, runner.filters, strict=True))]
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for ranked, q, f in rankings:
            s._diversify(ranked, q, f)
        best = min(best, time.perf_counter() - t)
    return best / len(rankings) * 1000


def named_sets(kb: KnowledgeBase, queries: list[Judged], seed: int = 7) -> list[LabelledSet]:
    """The report queries with an issuer and a year written in front (深圳2019年…), each labelled with its
    passages in that issuer's report of that year: the year a report reviews, or the year it was published
    (two sets; up to three reports per query, drawn at random)."""
    import random

    from policykg.search.query import issuer_names

    docs = {d.id: d for d in kb.documents()}
    judge = Judge(kb.documents(), lambda d: kb.document(d).text)
    rng = random.Random(seed)
    review: list[Judged] = []
    published: list[Judged] = []
    for q in queries:
        by_doc: dict[str, list[dict[str, Any]]] = {}
        for item in q.relevant:
            d = judge._doc(item["path"])
            if d and docs[d].doc_type == "report":
                by_doc.setdefault(d, []).append(item)
        for d in rng.sample(sorted(by_doc), min(3, len(by_doc))):
            doc = docs[d]
            place = issuer_names(doc.issuer or "")[-1]
            review.append(Judged(f"{q.id}-{d}", f"{place}{doc.year}年{q.q}", q.kind, by_doc[d]))
            if doc.published:
                published.append(Judged(f"{q.id}-{d}-p", f"{place}{doc.published[:4]}年{q.q}", q.kind, by_doc[d]))
    return [LabelledSet("named-review-yr", review, Filters()), LabelledSet("named-published", published, Filters())]


def adapter_held_out(kb: KnowledgeBase, runner: Runner, weights: FusionWeights, k: int = FOLDS, grouped: bool = False) -> Metrics:
    """STARD rows scored by ``weights`` with a query adapter trained without them: ``k`` folds over the STARD
    questions (random, or grouped by shared articles), each fold's adapter trained as bench/train_adapter.py
    trains the shipped one (its other questions + the free corpus pairs); other rows as with the shipped file."""
    import policykg.search.adapter as adapter_module
    import train_adapter as ta

    store = kb.store
    corpus = ta.load_corpus(store)
    stard = ta.stard_examples(store, corpus)
    free = ta.free_examples(store, corpus)
    cache = Path("/tmp/policykg-adapter-queries.npz")
    stard_q, free_q = ta.encode([e.text for e in stard], cache), ta.encode([e.text for e in free], cache)
    row_of = {q.q: i for i, q in enumerate(runner.queries) if q.id.startswith("stard-")}
    out = runner.run(weights)
    shipped = adapter_module.load_adapter
    try:
        for test in ta.folds(stard, k, grouped):
            train = np.setdiff1d(np.arange(len(stard)), test)
            fold = ta.fit_average(ta.Setting(), np.concatenate([stard_q[train], free_q]), [stard[i] for i in train] + free,
                                  corpus.vectors, seeds=3)
            adapter_module.load_adapter = lambda *a, _f=fold, **kw: _f  # type: ignore[assignment]
            held = runner.run(weights)
            rows = [row_of[stard[i].text] for i in test if stard[i].text in row_of]
            out[rows] = held[rows]
    finally:
        adapter_module.load_adapter = shipped  # type: ignore[assignment]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("policykg-data"))
    ap.add_argument("--queries", type=Path, default=QUERIES_FILE)
    ap.add_argument("--stard", type=Path, default=STARD_FILE)
    ap.add_argument("--cache", type=Path, default=Path("/tmp"), help="directory of the query-vector cache")
    ap.add_argument("--no-txtai", action="store_true", help="skip the txtai peer")
    ap.add_argument("--sweep", action="store_true", help="grid over the RRF weights")
    ap.add_argument("--adapter-cv", action="store_true",
                    help="also score STARD with query adapters trained without the question (5 folds, random and grouped)")
    args = ap.parse_args()
    kb = KnowledgeBase(args.data)
    own = load_queries(args.queries)
    sets = [
        LabelledSet("stard-dev", load_stard(args.stard) if args.stard.exists() else [], Filters(doc_type="regulation")),
        LabelledSet("own-lay", [q for q in own if q.kind == "lay"], Filters()),
        LabelledSet("own-reports", [q for q in own if q.kind != "lay"], Filters()),
    ]
    sets = [s for s in sets if s.queries]
    kb.searcher.refresh()
    t = time.perf_counter()
    encoder = kb.encoder()
    model_key = hashlib.sha1(repr(type(encoder)).encode() + str(getattr(encoder, "name", "")).encode()).hexdigest()[:8]
    vectors = CachedVectors(encoder, args.cache / f"policykg-qvecs-{model_key}.npz")
    runner = Runner(kb, sets, vectors)
    vectors.encode_queries([q.q for q in runner.queries])
    print(f"{len(runner.queries)} queries ({', '.join(f'{s.name} {len(s.queries)}' for s in sets)}), "
          f"vectors ready in {time.perf_counter() - t:.1f} s")
    kinds = np.array([query_kind(q.q) for q in runner.queries])
    print(f"question-like: {int((kinds == 'question').sum())}, topic phrases: {int((kinds == 'topic').sum())}\n")
    fold = folds_of(len(runner.queries))
    print(f"{'R@10 MRR@10':34} " + "  ".join(f"{s.name:>13}" for s in sets))

    off = FusionWeights(  # the ranking before this table: RRF, every technique off
        fusion="rrf", strip_scaffolding=False, expand_terms=False, drop_headings=False, rerank_question=0.0, rerank_topic=0.0,
        year_diversity=0.0, adapter="off", sentences="off", sentence_offset=0.0,
    )
    for mode in ("bm25", "dense", "hybrid"):
        print_row(mode, runner.run(off, mode), runner)  # type: ignore[arg-type]

    # score fusion: one grid over the dense share, chosen per query kind by CV
    share_grid = {s: runner.run(replace(off, fusion="score", dense_question=s, dense_topic=s)) for s in SHARES}

    def by_kind(grid: dict[Any, Metrics]) -> tuple[Metrics, str]:
        held = np.zeros((len(kinds), 2))
        notes = []
        for kind in ("question", "topic"):
            idx = np.flatnonzero(kinds == kind)
            sub = {k: v[idx] for k, v in grid.items()}
            groups = [np.flatnonzero(np.isin(idx, g)) for g in runner.groups]
            h, chosen = cv_select(sub, [g for g in groups if len(g)], fold[idx])
            held[idx] = h
            notes.append(f"{kind} {sorted(set(chosen.values()))}")
        return held, "chosen per fold: " + "; ".join(notes)

    held, note = by_kind(share_grid)
    print_row("+ score fusion by kind (CV)", held, runner, note)
    for name, w in (
        ("+ question scaffolding removed", replace(off, strip_scaffolding=True)),
        ("+ colloquial→statutory terms", replace(off, expand_terms=True)),
        ("+ heading-only passages dropped", replace(off, drop_headings=True)),
        ("+ best sentence (topic phrases)", replace(off, sentences="topics")),
        ("+ best sentence (every query)", replace(off, sentences="all")),
    ):
        print_row(name, runner.run(w), runner)
    rr_grid = {r: runner.run(replace(off, rerank_question=r, rerank_topic=r)) for r in RERANKS}
    held, chosen = cv_select(rr_grid, runner.groups, fold)
    print_row("+ second stage: coverage (CV)", held, runner, f"chosen per fold: {sorted(set(chosen.values()))}")
    for yd in (0.05, 0.1):
        print_row(f"+ year diversity {yd}", runner.run(replace(off, year_diversity=yd)), runner)

    # all together: scaffolding, terms, headings on; share × rerank by CV
    on = replace(off, strip_scaffolding=True, expand_terms=True, drop_headings=True, fusion="score", sentences="topics")
    all_grid = {
        (s, r): runner.run(replace(on, dense_question=s, dense_topic=s, rerank_question=r, rerank_topic=r))
        for s, r in itertools.product(SHARES, RERANKS)
    }
    held, note = by_kind(all_grid)
    print_row("all together (CV)", held, runner, note)
    off_adapter = replace(FusionWeights(), adapter="off")
    print_row("all together, no query adapter", runner.run(off_adapter), runner)
    print_row("  + query adapter, every query", runner.run(replace(off_adapter, adapter="all")), runner,
              "STARD in-sample: the adapter was trained on these questions (held out: bench/train_adapter.py --cv)")
    defaults = FusionWeights()
    print_row("all together, shipped defaults", runner.run(defaults), runner,
              f"share q={defaults.dense_question} t={defaults.dense_topic}, "
              f"rerank q={defaults.rerank_question} t={defaults.rerank_topic}, "
              f"years={defaults.year_diversity}, adapter={defaults.adapter} (STARD in-sample for the adapter)")
    no_div = replace(defaults, year_diversity=0.0)
    print_row("  without year diversity", runner.run(no_div), runner)
    div_grid = {yd: runner.run(replace(defaults, year_diversity=yd)) for yd in DIVERSITIES}
    held, chosen = cv_select(div_grid, runner.groups, fold)
    print_row("  year diversity (CV)", held, runner, f"chosen per fold: {sorted(set(chosen.values()))}")
    no_offset = replace(defaults, sentence_offset=0.0)
    print_row("  without the sentence head start", runner.run(no_offset), runner)
    offset_grid = {o: runner.run(replace(defaults, sentence_offset=o)) for o in OFFSETS}
    held, chosen = cv_select(offset_grid, runner.groups, fold)
    print_row("  sentence head start (CV)", held, runner, f"chosen per fold: {sorted(set(chosen.values()))}")
    print_row("  neither", runner.run(replace(no_div, sentence_offset=0.0)), runner)
    before_years, n_years = runner.years_covered(runner.results(off))
    no_div_years, _ = runner.years_covered(runner.results(no_div))
    shipped_years, _ = runner.years_covered(runner.results(defaults))
    print(f"{'':34} years covered (labelled years with a labelled hit in the top 10, {n_years} queries labelled in "
          f"several years): hybrid before {before_years:.3f}, shipped without year diversity {no_div_years:.3f}, "
          f"shipped {shipped_years:.3f}")
    if args.adapter_cv:
        for grouped in (False, True):
            held = adapter_held_out(kb, runner, defaults, grouped=grouped)
            print_row(f"  shipped defaults, adapter held out ({'grouped' if grouped else 'random'} folds)", held, runner,
                      "STARD: each question's adapter trained without it; other sets: the shipped adapter")
    best = {kind: best_on_all({k: v[kinds == kind] for k, v in all_grid.items()},
                              [np.flatnonzero(np.isin(np.flatnonzero(kinds == kind), g)) for g in runner.groups])
            for kind in ("question", "topic")}
    print(f"{'':34} best on all queries: question (share, rerank) = {best['question']}, topic = {best['topic']}")

    # the report queries searched among the reports only (as in a store of one issuer's reports)
    reports_only = Runner(kb, [LabelledSet("reports-only", [q for q in own if q.kind != "lay"], Filters(doc_type="report"))], vectors)
    print(f"\n{'report queries, reports only':34} {'reports-only':>13}   years covered")
    settings = [(yd, defaults.sentence_offset) for yd in DIVERSITIES] + [(defaults.year_diversity, o) for o in OFFSETS]
    for yd, o in dict.fromkeys([(0.0, 0.0), *settings]):
        tag = " (shipped)" if (yd, o) == (defaults.year_diversity, defaults.sentence_offset) else ""
        res = reports_only.results(replace(defaults, year_diversity=yd, sentence_offset=o))
        print_row(f"  year diversity {yd}, head start {o}{tag}", reports_only.metrics(res), reports_only,
                  f"{reports_only.years_covered(res)[0]:.3f}")

    named = Runner(kb, named_sets(kb, [q for q in own if q.kind != "lay"]), vectors)
    print(f"\n{'queries naming an issuer and a year':34} " + "  ".join(f"{s.name:>15}" for s in named.sets)
          + f"   ({', '.join(str(len(s.queries)) for s in named.sets)} queries)")
    for boost in (0.0, 0.1, defaults.named_boost, 0.5, 1.0):
        tag = " (shipped)" if boost == defaults.named_boost else ""
        print_row(f"  named-report boost {boost}{tag}", named.run(replace(defaults, named_boost=boost)), named)
    print()

    print_row("peer: rank-bm25 (jieba) + faiss RRF", peer_rank_bm25_faiss(kb, runner, vectors), runner)
    if not args.no_txtai:
        m = peer_txtai(kb, runner, vectors)
        if m is None:
            print("peer: txtai not installed (pip install txtai)")
        else:
            print_row("peer: txtai default hybrid", m, runner)
    if defaults.rerank_question > 0 or defaults.rerank_topic > 0:
        print(f"\nsecond stage: {second_stage_ms(runner, defaults):.2f} ms per query (ranking with it on every query minus without)")
    print(f"best-sentence search: {sentence_stage_ms(runner, defaults):.2f} ms per topic query (ranking with it minus without)")
    if defaults.year_diversity > 0:
        print(f"year diversity: {diversity_ms(runner, defaults):.2f} ms per query")

    if args.sweep:
        print("\nRRF weights sweep (dense, bm25, rrf_k): objective per set")
        rows = []
        for wb, rk in itertools.product((0.3, 0.5, 0.7, 1.0), (5, 10, 20, 60)):
            m = runner.run(replace(off, bm25=wb, rrf_k=rk))
            rows.append((sum(objective(m[g]) for g in runner.groups), wb, rk, m))
        for _, wb, rk, m in sorted(rows, reverse=True, key=lambda r: r[0])[:8]:
            print_row(f"  1.0 {wb:.1f} {rk:>3}", m, runner)


if __name__ == "__main__":
    main()
