"""Semantic Measure → Regulation links: the nearest articles of ingested regulations."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from graph.model import Evidence, Link
from graph.store import SQLiteStore

DEFAULT_THRESHOLD = 0.88
MAX_PER_MEASURE = 2


def semantic_links(store: SQLiteStore, *, threshold: float = DEFAULT_THRESHOLD, max_per_measure: int = MAX_PER_MEASURE) -> list[Link]:
    """For each report measure, the best article of each regulation above ``threshold`` (cosine)."""
    regs = {r.doc_id: r for r in store.regulations() if r.doc_id}
    if not regs:
        return []
    passages = store.passages()
    if not passages:
        return []
    ids, vecs = store.passage_vectors(384 if not passages else _dim(store))
    if not len(ids):
        return []
    row_of = {int(pid): i for i, pid in enumerate(ids.tolist())}
    articles = [p for p in passages if p.doc_id in regs and p.article and p.id in row_of]
    if not articles:
        return []
    article_ids = {(a.regulation_id, a.label): a.id for a in store.articles()}
    A = vecs[[row_of[a.id] for a in articles]]
    docs = {d["id"]: d for d in store.documents()}
    by_doc: dict[str, list] = defaultdict(list)
    for p in passages:
        if p.id in row_of and docs.get(p.doc_id, {}).get("doc_type") == "report":
            by_doc[p.doc_id].append(p)
    links: list[Link] = []
    for measure in store.measures():
        inside = [p for p in by_doc.get(measure.doc_id, []) if measure.start <= p.start and p.end <= measure.end]
        if not inside:
            continue
        issuer = docs[measure.doc_id].get("issuer") or ""
        sims = vecs[[row_of[p.id] for p in inside]] @ A.T  # (passages, articles)
        best_per_reg: dict[str, tuple[float, int, int]] = {}
        flat = np.argwhere(sims >= threshold)
        for pi, ai in flat.tolist():
            reg = regs[articles[ai].doc_id]
            if reg.jurisdiction and not issuer.startswith(reg.jurisdiction):
                continue
            s = float(sims[pi, ai])
            if s > best_per_reg.get(reg.id, (-1.0, 0, 0))[0]:
                best_per_reg[reg.id] = (s, pi, ai)
        for reg_id, (s, pi, ai) in sorted(best_per_reg.items(), key=lambda kv: -kv[1][0])[:max_per_measure]:
            p, art = inside[pi], articles[ai]
            ev = Evidence("semantic", p.text, p.start, p.end, round(s, 4), art.article, art.text[:80], None, None)
            links.append(Link(measure.id, reg_id, ev, article_ids.get((reg_id, art.article or ""))))
    return links


def _dim(store: SQLiteStore) -> int:
    row = store.query("SELECT length(vector) AS n FROM passages WHERE vector IS NOT NULL LIMIT 1")
    return int(row[0]["n"]) // 4 if row else 384
