"""Semantic Measure → Regulation links: the nearest article of an ingested regulation.

A link needs both a high cosine between a passage of the measure and the article (dense) and
enough shared rare words (IDF-weighted overlap of their BM25 tokens): on a hand-checked sample
the cosine alone linked many look-alike articles, the pair of conditions kept precision ≈ 0.9.
Three more guards keep a catch-all regulation from winning by breadth: a shared word must be
particular to the article within its regulation (article-level support); a regulation close to
more than ``BROAD_SHARE`` of the report measures needs a higher cosine; and the dashed summary
lines of a review or of the year's targets (——…) are no measures to link.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import numpy as np

from policykg.graph.model import Evidence, Link, Passage
from policykg.graph.store import SQLiteStore
from policykg.ingest.linking import is_preamble

DEFAULT_THRESHOLD = 0.91
MIN_OVERLAP = 45.0  # summed IDF of the words a measure passage and the article share
MIN_IDF = 1.5  # words in more than ~1/4.5 of passages carry no evidence
MAX_PER_MEASURE = 2
ARTICLE_SPECIFIC = 3  # a supporting word stands in at most this many articles of the regulation
BROAD_SHARE = 0.02  # a regulation near more of the report measures than this is a catch-all …
BROAD_MARGIN = 0.02  # … and needs this much more cosine


def semantic_links(
    store: SQLiteStore,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_overlap: float = MIN_OVERLAP,
    max_per_measure: int = MAX_PER_MEASURE,
) -> list[Link]:
    """For each report measure, the best article of each regulation passing the tests."""
    regs = {r.doc_id: r for r in store.regulations() if r.doc_id}
    passages = store.passages()
    if not regs or not passages:
        return []
    dim = store.vector_dim()
    if not dim:
        return []
    ids, vecs = store.passage_vectors(dim)
    row_of = {int(pid): i for i, pid in enumerate(ids.tolist())}
    tids, token_lists = store.passage_tokens()
    tokens = {int(pid): {t for t in toks if len(t) >= 2} for pid, toks in zip(tids.tolist(), token_lists, strict=True)}
    df = Counter(t for ts in tokens.values() for t in ts)
    n = max(len(tokens), 1)
    idf = {t: math.log(n / c) for t, c in df.items()}

    articles = [p for p in passages if p.doc_id in regs and p.article and p.id in row_of]
    if not articles:
        return []
    in_articles: dict[str, Counter[str]] = defaultdict(Counter)  # regulation doc id → word → articles holding it
    for art in articles:
        in_articles[art.doc_id].update(tokens.get(art.id, set()))
    article_ids = {(a.regulation_id, a.label): a.id for a in store.articles()}
    A = vecs[[row_of[a.id] for a in articles]]
    docs = {d.id: d for d in store.documents()}
    by_doc: dict[str, list[Passage]] = defaultdict(list)
    for p in passages:
        if p.id in row_of and (doc := docs.get(p.doc_id)) is not None and doc.doc_type == "report":
            by_doc[p.doc_id].append(p)

    # every (measure, regulation) candidate passing the cosine, overlap and support tests
    candidates: list[tuple[str, list[tuple[str, float, Passage, Passage, list[str]]]]] = []
    reached: Counter[str] = Counter()  # regulation id → measures it is a candidate for
    measures = 0
    for measure in store.measures():
        inside = [p for p in by_doc.get(measure.doc_id, []) if measure.start <= p.start and p.end <= measure.end]
        if not inside or is_preamble(measure):
            continue
        measures += 1
        issuer = docs[measure.doc_id].issuer or ""
        sims = vecs[[row_of[p.id] for p in inside]] @ A.T  # (passages, articles)
        best: dict[str, tuple[float, int, int, list[str]]] = {}
        for pi, ai in np.argwhere(sims >= threshold).tolist():
            art = articles[ai]
            reg = regs[art.doc_id]
            if reg.jurisdiction and not issuer.startswith(reg.jurisdiction):
                continue
            shared = [t for t in tokens.get(inside[pi].id, set()) & tokens.get(art.id, set()) if idf.get(t, 0) > MIN_IDF]
            if sum(idf[t] for t in shared) < min_overlap:
                continue
            if not any(in_articles[art.doc_id][t] <= ARTICLE_SPECIFIC for t in shared):
                continue  # nothing particular to this article: the regulation's general words only
            s = float(sims[pi, ai])
            if s > best.get(reg.id, (-1.0, 0, 0, []))[0]:
                best[reg.id] = (s, pi, ai, sorted(shared, key=lambda t: -idf[t]))
        reached.update(best.keys())
        candidates.append(
            (measure.id, [(reg_id, s, inside[pi], articles[ai], shared) for reg_id, (s, pi, ai, shared) in best.items()])
        )

    broad = {reg_id for reg_id, count in reached.items() if count > BROAD_SHARE * max(measures, 1)}
    links: list[Link] = []
    for measure_id, found in candidates:
        kept = [c for c in found if c[0] not in broad or c[1] >= threshold + BROAD_MARGIN]
        for reg_id, s, p, art, shared in sorted(kept, key=lambda c: -c[1])[:max_per_measure]:
            words = "、".join([w for w in shared if not any(w != o and w in o for o in shared)][:6])
            ev = Evidence("semantic", p.text, p.start, p.end, round(s, 4), art.article, words, None, None)
            links.append(Link(measure_id, reg_id, ev, article_ids.get((reg_id, art.article or ""))))
    return links
