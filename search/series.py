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
State Council and Shenzhen reports (see tests/search/test_series.py).
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
from policykg.graph.store import SQLiteStore
from policykg.ingest.indicators import SPECS, canonical_name, report_spans, series_indicators
from policykg.search.embeddings import Encoder

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
class _Side:
    """The passages of one report (optionally only some of them) with vectors and key-term vectors."""

    doc: dict[str, Any]
    ids: list[int]
    spans: list[tuple[int, int]]
    texts: list[str]
    vectors: np.ndarray
    tokens: list[set[str]]


# ---------------------------------------------------------------- lookups
def report_for(store: SQLiteStore, issuer: str, year: int) -> dict[str, Any]:
    """The report of ``issuer`` (exact name, else a substring) on ``year`` (the year it reviews)."""
    rows = store.query(
        "SELECT id, path, title, issuer, year FROM documents WHERE doc_type='report' AND year=? ORDER BY issuer, title", (year,)
    )
    exact = [r for r in rows if r["issuer"] == issuer]
    partial = [r for r in rows if issuer and issuer in (r["issuer"] or "")]
    found = exact or partial
    if not found:
        raise SeriesError(f"no report of {issuer!r} on {year} (reports are dated by the year they review)")
    return found[0]


def issuer_reports(store: SQLiteStore, issuer: str) -> list[dict[str, Any]]:
    """Every report of ``issuer`` (exact name, else a substring), by year."""
    rows = store.query("SELECT id, path, title, issuer, year FROM documents WHERE doc_type='report' ORDER BY year, title")
    exact = [r for r in rows if r["issuer"] == issuer]
    return exact or [r for r in rows if issuer and issuer in (r["issuer"] or "")]


def _doc_ref(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["id"], "title": doc["title"], "path": doc["path"], "year": doc["year"]}


def _top_sections(store: SQLiteStore, doc_id: str) -> list[tuple[int, int, str, bool]]:
    rows = store.query('SELECT start, "end", title, planned FROM sections WHERE doc_id=? AND level=1 ORDER BY start', (doc_id,))
    return [(int(r["start"]), int(r["end"]), r["title"] or "", bool(r["planned"])) for r in rows]


def _idf(store: SQLiteStore) -> dict[str, float]:
    """IDF of the stored tokens over the passages of every report."""
    rows = store.query("SELECT p.tokens FROM passages p JOIN documents d ON d.id = p.doc_id WHERE d.doc_type='report'")
    df = Counter(t for r in rows for t in {t for t in (r["tokens"] or "").split(" ") if len(t) >= 2})
    n = max(len(rows), 1)
    return {t: math.log(n / c) for t, c in df.items()}


def _side(store: SQLiteStore, doc: dict[str, Any], encoder: Encoder | None, keep: Sequence[tuple[int, int]] | None = None) -> _Side:
    """The passages of ``doc`` (those overlapping ``keep`` when given) with their stored vectors."""
    rows = store.query(
        'SELECT id, start, "end", text, embed_text, tokens, vector FROM passages WHERE doc_id=? ORDER BY start', (doc["id"],)
    )
    if keep is not None:
        rows = [r for r in rows if any(r["start"] < e and s < r["end"] for s, e in keep)]
    dim = next((len(r["vector"]) // 4 for r in rows if r["vector"] is not None), 384)
    vecs = np.zeros((len(rows), dim), dtype=np.float32)
    missing = [i for i, r in enumerate(rows) if r["vector"] is None]
    for i, r in enumerate(rows):
        if r["vector"] is not None:
            vecs[i] = np.frombuffer(r["vector"], dtype=np.float32)
    if missing and encoder is not None:
        vecs[missing] = encoder.encode_passages([rows[i]["embed_text"] or rows[i]["text"] for i in missing])
    return _Side(
        doc,
        [int(r["id"]) for r in rows],
        [(int(r["start"]), int(r["end"])) for r in rows],
        [r["text"] for r in rows],
        vecs,
        [{t for t in (r["tokens"] or "").split(" ") if len(t) >= 2} for r in rows],
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
    shared = sorted((t for t in a & b if idf.get(t, 0.0) > MIN_IDF), key=lambda t: -idf[t])
    return [t for t in shared if not any(t != o and t in o for o in shared)][:MAX_TERMS]


def _measure_groups(measures: Sequence[Measure], side: _Side) -> list[list[int]]:
    """For each measure, the indices of the passages of ``side`` overlapping its span."""
    return [[i for i, (s, e) in enumerate(side.spans) if s < m.end and m.start < e] for m in measures]


def _measure_quote(m: Measure, side: _Side | None = None, passage: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": m.id, "title": m.title, "status": m.status, "year": m.year, "quote": m.text, "start": m.start, "end": m.end,
        "section": m.section,
    }
    if side is not None and passage is not None:
        s, e = side.spans[passage]
        out["passage"] = {"quote": side.texts[passage], "start": s, "end": e}
    return out


def _links(store: SQLiteStore, measure_ids: Sequence[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for chunk in range(0, len(measure_ids), 900):
        part = list(measure_ids[chunk: chunk + 900])
        for r in store.query(
            f"SELECT DISTINCT measure_id, regulation_id FROM links WHERE measure_id IN ({','.join('?' * len(part))})", part
        ):
            out.setdefault(r["measure_id"], set()).add(r["regulation_id"])
    return out


def _regulation_names(store: SQLiteStore, ids: set[str]) -> dict[str, str]:
    return {r["id"]: r["name"] for r in store.query("SELECT id, name FROM regulations")} if ids else {}


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
    doc_a, doc_b = report_for(store, issuer, year_from), report_for(store, issuer, year_to)
    ma = [m for m in store.measures(doc_a["id"]) if status is None or m.status == status]
    mb = [m for m in store.measures(doc_b["id"]) if status is None or m.status == status]
    side_a, side_b = _side(store, doc_a, encoder), _side(store, doc_b, encoder)
    ga, gb = _measure_groups(ma, side_a), _measure_groups(mb, side_b)
    idf = _idf(store)
    terms_a = [set().union(*(side_a.tokens[i] for i in g)) if g else set() for g in ga]
    terms_b = [set().union(*(side_b.tokens[i] for i in g)) if g else set() for g in gb]
    vocab = _vocab(terms_a + terms_b, idf)
    links = _links(store, [m.id for m in ma + mb])
    out: dict[str, Any] = {
        "issuer": doc_b["issuer"], "from": _doc_ref(doc_a), "to": _doc_ref(doc_b), "threshold": threshold,
        "continued": [], "new": [], "dropped": [],
    }
    if ma and mb:
        pcos = side_b.vectors @ side_a.vectors.T  # passage pairs
        dense = _rescale(_aligned(pcos, gb, ga))
        terms = _term_matrix(terms_b, vocab, idf) @ _term_matrix(terms_a, vocab, idf).T
        shared_links = np.array([[min(len(links.get(b.id, set()) & links.get(a.id, set())), 2) for a in ma] for b in mb], dtype=np.float32)
        score = W_DENSE * dense + W_TERMS * terms + W_LINK * shared_links
    else:
        score = np.zeros((len(mb), len(ma)), dtype=np.float32)
    names = _regulation_names(store, set().union(*links.values()) if links else set())
    continued_a: set[int] = set()
    for j, b in enumerate(mb):
        if not ma:
            out["new"].append(_measure_quote(b))
            continue
        i = int(np.argmax(score[j]))
        s = float(score[j, i])
        a = ma[i]
        if s < threshold:
            out["new"].append({**_measure_quote(b), "closest": {"id": a.id, "title": a.title, "score": round(s, 4)}})
            continue
        continued_a.add(i)
        pi, pj = 0, 0
        if ga[i] and gb[j]:
            sub = pcos[np.ix_(gb[j], ga[i])]
            bj, ai = np.unravel_index(int(np.argmax(sub)), sub.shape)
            pj, pi = gb[j][int(bj)], ga[i][int(ai)]
        out["continued"].append({
            "score": round(s, 4),
            "dense": round(float(dense[j, i]), 4),
            "terms": round(float(terms[j, i]), 4),
            "key_terms": _shared_terms(terms_b[j], terms_a[i], idf),
            "regulations": sorted(names.get(r, r) for r in links.get(b.id, set()) & links.get(a.id, set())),
            "from": _measure_quote(a, side_a, pi if ga[i] else None),
            "to": _measure_quote(b, side_b, pj if gb[j] else None),
        })
    for i, a in enumerate(ma):
        if i not in continued_a:
            j = int(np.argmax(score[:, i])) if mb else -1
            entry = _measure_quote(a)
            if j >= 0:
                entry["closest"] = {"id": mb[j].id, "title": mb[j].title, "score": round(float(score[j, i]), 4)}
            out["dropped"].append(entry)
    out["counts"] = {"from": len(ma), "to": len(mb), "continued": len(out["continued"]), "new": len(out["new"]), "dropped": len(out["dropped"])}
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
    planned = [m for m in store.measures(doc_plan["id"]) if m.status == "planned"]
    done_measures = [m for m in store.measures(doc_done["id"]) if m.status == "done"]
    sections = _top_sections(store, doc_done["id"])
    review = _complement([(s, e) for s, e, _, p in sections if p], len(store.document(doc_done["id"]).text))  # type: ignore[union-attr]
    side_p = _side(store, doc_plan, encoder, [(m.start, m.end) for m in planned])
    side_d = _side(store, doc_done, encoder, review)
    gp = _measure_groups(planned, side_p)
    idf = _idf(store)
    vocab = _vocab(side_p.tokens + side_d.tokens, idf)
    out: dict[str, Any] = {
        "issuer": doc_done["issuer"], "year": year, "plan": _doc_ref(doc_plan), "outcome": _doc_ref(doc_done),
        "threshold": threshold, "plans": [],
    }
    if planned and side_d.ids and side_p.ids:
        dense = _rescale(side_p.vectors @ side_d.vectors.T)
        terms = _term_matrix(side_p.tokens, vocab, idf) @ _term_matrix(side_d.tokens, vocab, idf).T
        score = W_DENSE * dense + W_TERMS * terms  # (plan passages, review passages)
    for k, m in enumerate(planned):
        entry: dict[str, Any] = {"plan": _measure_quote(m), "status": "not reported", "score": 0.0}
        if gp[k] and side_d.ids:
            sub = score[gp[k]]
            pi, dj = np.unravel_index(int(np.argmax(sub)), sub.shape)
            s = float(sub[pi, dj])
            p_index, d_index = gp[k][int(pi)], int(dj)
            ds, de = side_d.spans[d_index]
            owner = next((d for d in done_measures if d.start < de and ds < d.end), None)
            entry["score"] = round(s, 4)
            entry["plan"]["passage"] = {"quote": side_p.texts[p_index], "start": side_p.spans[p_index][0], "end": side_p.spans[p_index][1]}
            match = {
                "quote": side_d.texts[d_index], "start": ds, "end": de,
                "dense": round(float(dense[gp[k][int(pi)], d_index]), 4), "terms": round(float(terms[gp[k][int(pi)], d_index]), 4),
                "key_terms": _shared_terms(side_p.tokens[p_index], side_d.tokens[d_index], idf),
                "measure": {"id": owner.id, "title": owner.title} if owner else None,
            }
            entry["match" if s >= threshold else "closest"] = match
            if s >= threshold:
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
    for row in issuer_reports(store, issuer):
        doc = store.document(row["id"])
        if doc is None:
            continue
        planned, multi = report_spans(_top_sections(store, doc.id))
        for ind in series_indicators(doc, planned, multi):
            if wanted is None or ind.name == wanted or (wanted not in _CANONICAL and wanted in ind.name):
                out.append(ind)
    out.sort(key=lambda i: (i.name, i.year or 0, i.kind != "target", i.start))
    return out


def indicators(store: SQLiteStore, issuer: str, name: str | None = None) -> list[dict[str, Any]]:
    """:func:`indicator_series` as JSON-ready items."""
    docs = {r["id"]: r for r in issuer_reports(store, issuer)}
    return [
        {
            "name": i.name, "year": i.year, "kind": i.kind, "value": i.value, "low": i.low, "high": i.high, "bound": i.bound,
            "approximate": i.approximate, "unit": i.unit, "quote": i.quote, "start": i.start, "end": i.end,
            "document": {"id": i.doc_id, "title": docs[i.doc_id]["title"], "path": docs[i.doc_id]["path"]},
        }
        for i in indicator_series(store, issuer, name)
    ]
