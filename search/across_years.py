"""Across the years: what changed between two reports, whether plans were carried out, indicator series.

Everything is computed from the store as it is: passage vectors are precomputed at ingest (no
re-embedding unless a passage lacks its vector), key terms are the stored BM25 tokens.

* :func:`diff` — each measure of the later report is ``continued`` (paired with its closest measure
  of the earlier one) or ``new``; each measure of the earlier report no later one continues is ``dropped``.
* :func:`plans` — the measures planned for a year (in the report on the year before) against what the
  report on that year says was done: ``carried out`` with the matching passage, or ``not reported``.
* :func:`indicators` — the canonical indicator series (targets and actuals) of an issuer's reports.

Scores combine the cosine of the passage embeddings, the cosine of IDF-weighted key terms and the
regulations both measures are linked to; the thresholds were calibrated on hand-checked pairs of the
State Council and Shenzhen reports (see tests/search/test_series.py). Every read goes through the
store's named methods (reports, stored passages, top-level sections, links).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from policykg.graph.model import Indicator, Measure
from policykg.graph.readmodels import DocumentSummary
from policykg.graph.store import SQLiteStore
from policykg.ingest.indicators import SPECS, canonical_name, report_spans, series_indicators
from policykg.ingest.protocols import Encoder

# score = W_DENSE * cosine + W_TERMS * key-term cosine + W_LINK per shared regulation (at most 2)
W_DENSE = 0.6
W_TERMS = 0.4
W_LINK = 0.03
DENSE_FLOOR = 0.78  # e5 cosines of unrelated passages of these reports sit around 0.8: rescaled from here
CONTINUED_THRESHOLD = 0.50
CARRIED_OUT_THRESHOLD = 0.44
MIN_IDF = 1.0
MAX_TERMS = 8


_CANONICAL = {s.name for s in SPECS}


class SeriesError(LookupError):
    """No report of that issuer for that year."""


@dataclass
class ReportPassages:
    """The passages of one report (optionally only some of them) with their vectors and key terms."""

    doc: DocumentSummary
    ids: list[int]
    spans: list[tuple[int, int]]
    texts: list[str]
    vectors: np.ndarray
    tokens: list[set[str]]


# ---------------------------------------------------------------- lookups
def report_for(store: SQLiteStore, issuer: str, year: int) -> DocumentSummary:
    """The report of ``issuer`` (exact name, else a substring) on ``year`` (the year it reviews)."""
    reports = store.reports(year)
    exact = [r for r in reports if r.issuer == issuer]
    partial = [r for r in reports if issuer and issuer in (r.issuer or "")]
    found = exact or partial
    if not found:
        raise SeriesError(f"no report of {issuer!r} on {year} (reports are dated by the year they review)")
    return found[0]


def issuer_reports(store: SQLiteStore, issuer: str) -> list[DocumentSummary]:
    """Every report of ``issuer`` (exact name, else a substring), by year."""
    reports = store.reports()
    exact = [r for r in reports if r.issuer == issuer]
    return exact or [r for r in reports if issuer and issuer in (r.issuer or "")]


def _doc_ref(doc: DocumentSummary) -> dict[str, Any]:
    return {"id": doc.id, "title": doc.title, "path": doc.path, "year": doc.year}


def _idf(store: SQLiteStore) -> dict[str, float]:
    """IDF of the stored tokens over the passages of every report."""
    passages = store.report_passage_tokens()
    df = Counter(t for tokens in passages for t in {t for t in tokens if len(t) >= 2})
    n = max(len(passages), 1)
    return {t: math.log(n / c) for t, c in df.items()}


def _report_passages(
    store: SQLiteStore, doc: DocumentSummary, encoder: Encoder | None, keep: Sequence[tuple[int, int]] | None = None,
) -> ReportPassages:
    """The passages of ``doc`` (those overlapping ``keep`` when given) with their stored vectors."""
    stored = store.stored_passages(doc.id)
    if keep is not None:
        stored = [sp for sp in stored if any(sp.passage.start < e and s < sp.passage.end for s, e in keep)]
    dim = next((len(sp.vector) for sp in stored if sp.vector is not None), 384)
    vecs = np.zeros((len(stored), dim), dtype=np.float32)
    missing = [i for i, sp in enumerate(stored) if sp.vector is None]
    for i, sp in enumerate(stored):
        if sp.vector is not None:
            vecs[i] = sp.vector
    if missing and encoder is not None:
        vecs[missing] = encoder.encode_passages([stored[i].passage.embed_text or stored[i].passage.text for i in missing])
    return ReportPassages(
        doc,
        [int(sp.passage.id) for sp in stored],
        [(int(sp.passage.start), int(sp.passage.end)) for sp in stored],
        [sp.passage.text for sp in stored],
        vecs,
        [{t for t in sp.tokens if len(t) >= 2} for sp in stored],
    )


# ---------------------------------------------------------------- scoring
def _term_matrix(groups: Sequence[set[str]], vocab: dict[str, int], idf: dict[str, float]) -> np.ndarray:
    """Rows: L2-normalised IDF weights of each group's key terms."""
    m = np.zeros((len(groups), len(vocab)), dtype=np.float32)
    for i, terms in enumerate(groups):
        for t in terms:
            j = vocab.get(t)
            if j is not None:
                m[i, j] = idf[t]
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


def _vocab(groups: Sequence[set[str]], idf: dict[str, float]) -> dict[str, int]:
    terms = sorted({t for g in groups for t in g if idf.get(t, 0.0) > MIN_IDF})
    return {t: i for i, t in enumerate(terms)}


def _rescale(cos: np.ndarray) -> np.ndarray:
    """Dense cosine mapped so that the typical unrelated pair is 0 and identity is 1."""
    return np.clip((cos - DENSE_FLOOR) / (1 - DENSE_FLOOR), 0, 1)


def _normalise(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1, n)


def _aligned(pcos: np.ndarray, rows: Sequence[Sequence[int]], cols: Sequence[Sequence[int]]) -> np.ndarray:
    """Measure × measure similarity: each passage matched to its best counterpart, averaged both ways."""
    out = np.zeros((len(rows), len(cols)), dtype=np.float32)
    for i, r in enumerate(rows):
        if not r:
            continue
        block = pcos[list(r)]
        for j, c in enumerate(cols):
            if c:
                sub = block[:, list(c)]
                out[i, j] = 0.5 * (float(sub.max(axis=1).mean()) + float(sub.max(axis=0).mean()))
    return out


def _shared_terms(a: set[str], b: set[str], idf: dict[str, float]) -> list[str]:
    shared = sorted((t for t in a & b if idf.get(t, 0.0) > MIN_IDF), key=lambda t: (-idf[t], t))  # ties: by term, in any process
    return [t for t in shared if not any(t != o and t in o for o in shared)][:MAX_TERMS]


def _measure_groups(measures: Sequence[Measure], report: ReportPassages) -> list[list[int]]:
    """For each measure, the indices of the passages of ``report`` overlapping its span."""
    return [[i for i, (s, e) in enumerate(report.spans) if s < m.end and m.start < e] for m in measures]


def _measure_quote(m: Measure, report: ReportPassages | None = None, passage: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id, "title": m.title, "status": m.status, "year": m.year, "quote": m.text, "start": m.start, "end": m.end,
        "section": m.section,
    }
    if report is not None and passage is not None:
        s, e = report.spans[passage]
        out["passage"] = {"quote": report.texts[passage], "start": s, "end": e}
    return out


# ---------------------------------------------------------------- diff
def diff(
    store: SQLiteStore,
    encoder: Encoder | None,
    issuer: str,
    year_from: int,
    year_to: int,
    *,
    status: str | None = None,
    threshold: float = CONTINUED_THRESHOLD,
) -> dict[str, Any]:
    """The measures of the report on ``year_to`` against those of the report on ``year_from``.

    Years are the years the reports review (``Document.year``; the report delivered in 2025 reviews
    2024). ``status`` (done | planned) keeps only those measures of both reports.
    """
    started = time.perf_counter()
    doc_from, doc_to = report_for(store, issuer, year_from), report_for(store, issuer, year_to)
    earlier = [m for m in store.measures(doc_from.id) if status is None or m.status == status]
    later = [m for m in store.measures(doc_to.id) if status is None or m.status == status]
    passages_from, passages_to = _report_passages(store, doc_from, encoder), _report_passages(store, doc_to, encoder)
    groups_from, groups_to = _measure_groups(earlier, passages_from), _measure_groups(later, passages_to)
    idf = _idf(store)
    terms_from = [set().union(*(passages_from.tokens[i] for i in g)) if g else set() for g in groups_from]
    terms_to = [set().union(*(passages_to.tokens[i] for i in g)) if g else set() for g in groups_to]
    vocab = _vocab(terms_from + terms_to, idf)
    linked = store.linked_regulation_ids([m.id for m in earlier + later])
    out: dict[str, Any] = {
        "issuer": doc_to.issuer, "from": _doc_ref(doc_from), "to": _doc_ref(doc_to), "threshold": threshold,
        "continued": [], "new": [], "dropped": [],
    }
    if earlier and later:
        passage_cos = passages_to.vectors @ passages_from.vectors.T  # passage pairs
        dense = _rescale(_aligned(passage_cos, groups_to, groups_from))
        terms = _term_matrix(terms_to, vocab, idf) @ _term_matrix(terms_from, vocab, idf).T
        shared_links = np.array(
            [[min(len(linked.get(b.id, set()) & linked.get(a.id, set())), 2) for a in earlier] for b in later], dtype=np.float32,
        )
        score = W_DENSE * dense + W_TERMS * terms + W_LINK * shared_links  # (later measures, earlier measures)
    else:
        score = np.zeros((len(later), len(earlier)), dtype=np.float32)
    names = store.regulation_names() if linked and set().union(*linked.values()) else {}
    continued_from: set[int] = set()
    for j, b in enumerate(later):
        if not earlier:
            out["new"].append(_measure_quote(b))
            continue
        i = int(np.argmax(score[j]))
        best = float(score[j, i])
        a = earlier[i]
        if best < threshold:
            out["new"].append({**_measure_quote(b), "closest": {"id": a.id, "title": a.title, "score": round(best, 4)}})
            continue
        continued_from.add(i)
        passage_from, passage_to = 0, 0
        if groups_from[i] and groups_to[j]:
            pairs = passage_cos[np.ix_(groups_to[j], groups_from[i])]
            row, col = np.unravel_index(int(np.argmax(pairs)), pairs.shape)
            passage_to, passage_from = groups_to[j][int(row)], groups_from[i][int(col)]
        out["continued"].append({
            "score": round(best, 4),
            "dense": round(float(dense[j, i]), 4),
            "terms": round(float(terms[j, i]), 4),
            "key_terms": _shared_terms(terms_to[j], terms_from[i], idf),
            "regulations": sorted(names.get(r, r) for r in linked.get(b.id, set()) & linked.get(a.id, set())),
            "from": _measure_quote(a, passages_from, passage_from if groups_from[i] else None),
            "to": _measure_quote(b, passages_to, passage_to if groups_to[j] else None),
        })
    for i, a in enumerate(earlier):
        if i not in continued_from:
            j = int(np.argmax(score[:, i])) if later else -1
            entry = _measure_quote(a)
            if j >= 0:
                entry["closest"] = {"id": later[j].id, "title": later[j].title, "score": round(float(score[j, i]), 4)}
            out["dropped"].append(entry)
    out["counts"] = {
        "from": len(earlier), "to": len(later),
        "continued": len(out["continued"]), "new": len(out["new"]), "dropped": len(out["dropped"]),
    }
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


# ---------------------------------------------------------------- plans against outcomes
def plans(
    store: SQLiteStore,
    encoder: Encoder | None,
    issuer: str,
    year: int,
    *,
    threshold: float = CARRIED_OUT_THRESHOLD,
) -> dict[str, Any]:
    """The measures planned for ``year`` (report on ``year - 1``) against the report on ``year``.

    Each plan is ``carried out`` (with the best passage of the later report's review, its measure
    and score) or ``not reported``. Passages of the later report's own plan are not evidence.
    """
    started = time.perf_counter()
    doc_plan, doc_done = report_for(store, issuer, year - 1), report_for(store, issuer, year)
    planned = [m for m in store.measures(doc_plan.id) if m.status == "planned"]
    done_measures = [m for m in store.measures(doc_done.id) if m.status == "done"]
    done_text = store.document(doc_done.id)
    if done_text is None:
        raise SeriesError(f"no report of {issuer!r} on {year} (reports are dated by the year they review)")
    sections = store.top_sections(doc_done.id)
    review = _complement([(s, e) for s, e, _, in_plan in sections if in_plan], len(done_text.text))
    plan_passages = _report_passages(store, doc_plan, encoder, [(m.start, m.end) for m in planned])
    review_passages = _report_passages(store, doc_done, encoder, review)
    groups = _measure_groups(planned, plan_passages)
    idf = _idf(store)
    vocab = _vocab(plan_passages.tokens + review_passages.tokens, idf)
    out: dict[str, Any] = {
        "issuer": doc_done.issuer, "year": year, "plan": _doc_ref(doc_plan), "outcome": _doc_ref(doc_done),
        "threshold": threshold, "plans": [],
    }
    if planned and review_passages.ids and plan_passages.ids:
        dense = _rescale(plan_passages.vectors @ review_passages.vectors.T)
        terms = _term_matrix(plan_passages.tokens, vocab, idf) @ _term_matrix(review_passages.tokens, vocab, idf).T
        score = W_DENSE * dense + W_TERMS * terms  # (plan passages, review passages)
    for k, m in enumerate(planned):
        entry: dict[str, Any] = {"plan": _measure_quote(m), "status": "not reported", "score": 0.0}
        if groups[k] and review_passages.ids:
            candidates = score[groups[k]]
            row, col = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
            best = float(candidates[row, col])
            plan_index, review_index = groups[k][int(row)], int(col)
            start, end = review_passages.spans[review_index]
            owner = next((d for d in done_measures if d.start < end and start < d.end), None)
            entry["score"] = round(best, 4)
            entry["plan"]["passage"] = {
                "quote": plan_passages.texts[plan_index],
                "start": plan_passages.spans[plan_index][0], "end": plan_passages.spans[plan_index][1],
            }
            match = {
                "quote": review_passages.texts[review_index], "start": start, "end": end,
                "dense": round(float(dense[plan_index, review_index]), 4), "terms": round(float(terms[plan_index, review_index]), 4),
                "key_terms": _shared_terms(plan_passages.tokens[plan_index], review_passages.tokens[review_index], idf),
                "measure": {"id": owner.id, "title": owner.title} if owner else None,
            }
            entry["match" if best >= threshold else "closest"] = match
            if best >= threshold:
                entry["status"] = "carried out"
        out["plans"].append(entry)
    carried = sum(1 for p in out["plans"] if p["status"] == "carried out")
    out["counts"] = {"planned": len(planned), "carried out": carried, "not reported": len(planned) - carried}
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def _complement(spans: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """The parts of ``[0, length)`` outside ``spans``."""
    out, pos = [], 0
    for s, e in sorted(spans):
        if s > pos:
            out.append((pos, s))
        pos = max(pos, e)
    if pos < length:
        out.append((pos, length))
    return out


# ---------------------------------------------------------------- indicator series
def indicator_series(store: SQLiteStore, issuer: str, name: str | None = None) -> list[Indicator]:
    """The canonical indicators of ``issuer``'s reports, computed from their stored texts.

    ``name`` is a canonical name, a variant (经济增长, GDP增长) or a part of a name (信访).
    """
    wanted = canonical_name(name) if name else None
    out: list[Indicator] = []
    for report in issuer_reports(store, issuer):
        doc = store.document(report.id)
        if doc is None:
            continue
        planned, multi = report_spans(store.top_sections(doc.id))
        for ind in series_indicators(doc, planned, multi):
            if wanted is None or ind.name == wanted or (wanted not in _CANONICAL and wanted in ind.name):
                out.append(ind)
    out.sort(key=lambda i: (i.name, i.year or 0, i.kind != "target", i.start))
    return out


def indicators(store: SQLiteStore, issuer: str, name: str | None = None) -> list[dict[str, Any]]:
    """:func:`indicator_series` as JSON-ready items."""
    docs = {r.id: r for r in issuer_reports(store, issuer)}
    return [
        {
            "name": i.name, "year": i.year, "kind": i.kind, "value": i.value, "low": i.low, "high": i.high, "bound": i.bound,
            "approximate": i.approximate, "unit": i.unit, "quote": i.quote, "start": i.start, "end": i.end,
            "document": {"id": i.doc_id, "title": docs[i.doc_id].title, "path": docs[i.doc_id].path},
        }
        for i in indicator_series(store, issuer, name)
    ]
