"""Filtered hybrid search over the passages of a store, and the year-by-year timeline.

:class:`Searcher` composes a :class:`~policykg.search.backends.VectorSearch` and a
:class:`~policykg.search.backends.KeywordSearch` (one object or two; which ones is the factory's
choice), fuses their candidates, and turns passage ids into :class:`Hit`s.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from policykg.graph.model import Passage
from policykg.graph.readmodels import DocumentSummary
from policykg.graph.store import SQLiteStore
from policykg.ingest.passages import is_heading_only
from policykg.ingest.protocols import Encoder
from policykg.search.backends import KeywordSearch, VectorSearch
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.query import issuers_named, keyword_query, query_kind, years_named
from policykg.search.ranking import (
    Candidates,
    FusionWeights,
    Mode,
    best_of,
    diversify_years,
    fuse,
    fuse_scores,
)
from policykg.search.rerank import content_terms, coverage, rerank
from policykg.search.tokenize import Tokenizer

# A year has something on a topic when its best passage reaches this dense cosine (higher for a short query,
# whose e5 cosines run high with anything) or holds this IDF-weighted share of the query's words. Calibrated
# by bench/timeline_quality.py on 1,196 (query, issuer, year) pairs of bench/data/queries.jsonl (topics over
# the State Council, Shenzhen and founding reports; a year is labelled when it holds a labelled passage), as
# the setting that calls the most years empty while hiding at most 2% of the labelled ones: of the 286 years
# called empty, 98.6% hold no labelled passage; 1.4% of the labelled years are called empty.
TOPIC_COSINE = 0.855
TOPIC_COSINE_SHORT = 0.890  # query of at most SHORT_QUERY characters
SHORT_QUERY = 6
TOPIC_COVERAGE = 0.6
PASSAGE_CACHE = 8192  # passages kept in memory for the query path (rerank texts, hits), per store generation


@dataclass
class Hit:
    """One passage found: where it stands (document, section or article, span) and its score."""

    doc_id: str
    title: str
    issuer: str | None
    year: int | None
    doc_type: str
    section: str
    article: str | None
    text: str
    start: int
    end: int
    score: float
    passage_id: int = 0
    path: str = ""
    terms: list[str] = field(default_factory=list)  # query words found in the text, for highlighting

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Searcher:
    """Keeps the indexes in step with the store (by its generation counter) and answers queries."""

    def __init__(
        self,
        store: SQLiteStore,
        vectors: VectorSearch,
        keywords: KeywordSearch,
        encoder: Callable[[], Encoder],
        *,
        weights: FusionWeights | None = None,
    ) -> None:
        self.store = store
        self.vectors = vectors
        self.keywords = keywords
        self._encoder = encoder
        self.weights = weights or FusionWeights()
        self._lock = threading.Lock()
        self._generation = -1
        self.catalog = PassageCatalog(store)
        self.tokenizer = Tokenizer()
        self._docs: dict[str, DocumentSummary] = {}
        self._issuers: list[str] = []  # the issuers of the stored documents, for names in a query
        self._reg_names: list[tuple[str, str]] = []  # (name or alias, doc id of its full text), longest first
        self._idf: dict[str, float] = {}
        self._idf_generation = -2
        self._cache: OrderedDict[int, Passage] = OrderedDict()  # recently read passages, this generation's
        self._cache_lock = threading.Lock()

    # -- index life cycle
    def refresh(self, *, write: bool = False) -> None:
        """Bring the indexes to the store's generation; ``write``: persist what was rebuilt."""
        with self._lock, self.store.snapshot():
            gen = self.store.generation()
            if gen != self._generation:
                with self._cache_lock:
                    self._cache.clear()
                self.catalog = PassageCatalog.load(self.store)
                self._docs = {d.id: d for d in self.store.documents()}
                self._issuers = sorted({d.issuer for d in self._docs.values() if d.issuer})
                regs = self.store.regulations()
                self.tokenizer = Tokenizer.from_regulations(regs)
                self._reg_names = sorted(
                    ((n, r.doc_id) for r in regs if r.doc_id for n in {r.name, *r.aliases} if len(n) >= 3),
                    key=lambda nr: -len(nr[0]),
                )
            for index in dict.fromkeys([self.vectors, self.keywords]):  # one call when one backend serves both
                index.refresh(self.catalog, gen, write=write)
            self._generation = gen

    def passages(self, ids: Sequence[int]) -> dict[int, Passage]:
        """The stored passages of ``ids`` (those that exist), from a small per-generation cache when it has
        them: a query reads the texts of its top candidates twice (second stage, hits), and popular queries
        come back."""
        out: dict[int, Passage] = {}
        with self._cache_lock:
            for pid in ids:
                p = self._cache.get(pid)
                if p is not None:
                    self._cache.move_to_end(pid)
                    out[pid] = p
        missing = [pid for pid in ids if pid not in out]
        if missing:
            read = {p.id: p for p in self.store.passages(missing)}
            out.update(read)
            with self._cache_lock:
                self._cache.update(read)
                while len(self._cache) > PASSAGE_CACHE:
                    self._cache.popitem(last=False)
        return out

    # -- ranking
    def _rank(self, query: str, mode: Mode, f: Filters, depth: int, qvec: np.ndarray | None = None) -> list[tuple[int, float]]:
        w = self.weights
        question = query_kind(query) == "question"
        dense = Candidates()
        bm25 = Candidates()
        if mode in ("dense", "hybrid") and len(self.catalog):
            if qvec is None:
                qvec = self._encoder().encode_queries([query])
            if mode == "hybrid" and (w.adapter == "all" or (w.adapter == "questions" and question)):
                qvec = self._adapted(qvec)
            dense = self.vectors.search_vectors(qvec, depth, f)[0]
            if mode == "hybrid" and (w.sentences == "all" or (w.sentences == "topics" and not question)):
                sentences = self.vectors.search_sentences(qvec, depth, f)[0]
                if w.sentence_offset:
                    sentences = Candidates(sentences.ids, sentences.scores + np.float32(w.sentence_offset))
                dense = best_of(dense, sentences)
        kw_query = query  # bm25 and dense modes stay the plain rankers; hybrid gets every stage
        if mode == "hybrid" and (w.strip_scaffolding or w.expand_terms):
            kw_query = keyword_query(query, strip=w.strip_scaffolding, expand=w.expand_terms)
        if mode in ("bm25", "hybrid"):
            bm25 = self.keywords.search_keywords(kw_query, depth, f)
        if mode == "dense":
            ranked = list(zip(dense.ids.tolist(), dense.scores.tolist(), strict=True))
        elif mode == "bm25":
            ranked = list(zip(bm25.ids.tolist(), bm25.scores.tolist(), strict=True))
        else:
            named = {doc for name, doc in self._reg_names if name in query}
            boosted = self.catalog.passages_of(named)
            if w.fusion == "score":
                share = w.dense_question if question else w.dense_topic
                ranked = fuse_scores(dense, bm25, share, w.score_regulation_boost, boosted)
            else:
                ranked = fuse(dense, bm25, w, boosted)
        if mode == "hybrid" and w.named_boost > 0 and ranked:
            ranked = self._boost_named(ranked, query, f, w.named_boost if w.fusion == "score" else w.regulation_boost)
        weight = w.rerank_question if question else w.rerank_topic
        if mode == "hybrid" and weight > 0 and ranked:
            terms = content_terms(self.tokenizer.tokenize(kw_query))
            head = [pid for pid, _ in ranked[:50]]
            texts = {pid: p.embed_text for pid, p in self.passages(head).items()}
            ranked = rerank(ranked, texts, terms, weight)
        return ranked

    def _boost_named(self, ranked: list[tuple[int, float]], query: str, f: Filters, boost: float) -> list[tuple[int, float]]:
        """``ranked`` with the passages of the reports the query names by year or issuer raised by ``boost``."""
        docs = self._named_documents(query, f)
        if not docs:
            return ranked
        doc_of = self.catalog.documents_of()
        raised = [(pid, score + boost if doc_of.get(pid) in docs else score) for pid, score in ranked]
        return sorted(raised, key=lambda ps: -ps[1])

    def _named_documents(self, query: str, f: Filters) -> set[str]:
        """The reports of the year(s) and issuer(s) ``query`` names, when the filters fix neither: a year
        matches the year a report reviews or the year it was published (``2016年简政放权``: the 2016 report's
        plans and the 2017 report's review)."""
        years = set(years_named(query)) if f.year is None and f.year_from is None and f.year_to is None else set()
        issuers = issuers_named(query, self._issuers) if not f.issuer else set()
        if not years and not issuers:
            return set()
        out = set()
        for d in self._docs.values():
            if d.doc_type != "report":
                continue
            published = int(d.published[:4]) if d.published and d.published[:4].isdigit() else None
            if years and d.year not in years and published not in years:
                continue
            if issuers and d.issuer not in issuers:
                continue
            out.add(d.id)
        return out

    def _adapted(self, qvec: np.ndarray) -> np.ndarray:
        """Query vectors through the shipped query adapter (trained for this encoder), else unchanged."""
        from policykg.search.adapter import load_adapter

        adapter = load_adapter(model=getattr(self._encoder(), "name", None))
        if adapter is None:
            return qvec
        mix = self.weights.adapter_mix
        if mix >= 1.0:
            return adapter(qvec)
        blend = mix * adapter(qvec) + (1.0 - mix) * np.asarray(qvec, dtype=np.float32)
        return blend / np.linalg.norm(blend, axis=-1, keepdims=True)

    def _diversify(self, ranked: list[tuple[int, float]], query: str, f: Filters) -> list[tuple[int, float]]:
        """Years spread over the top hits when neither the query nor the filters name a year."""
        w = self.weights
        if w.year_diversity <= 0 or f.year is not None or years_named(query):
            return ranked
        doc_of = self.catalog.documents_of()
        year_of = {}
        for pid, _ in ranked[:50]:
            d = self._docs.get(doc_of.get(pid, ""))
            year_of[pid] = d.year if d is not None and d.doc_type == "report" else None
        return diversify_years(ranked, year_of, w.year_diversity)

    def _nothing_passes(self, f: Filters) -> bool:
        mask = self.catalog.mask(f)
        return mask is not None and not mask.any()

    def search(self, query: str, *, k: int = 10, filters: Filters | None = None, mode: Mode = "hybrid", group_by_doc: bool = False) -> list[Hit]:
        """The best ``k`` passages for ``query`` within ``filters``."""
        self.refresh()
        f = filters or Filters()
        if self._nothing_passes(f):
            return []
        ranked = self._rank(query, mode, f, max(self.weights.depth, k * 3))
        ranked = self._diversify(ranked, query, f)
        if group_by_doc:
            seen: set[str] = set()
            doc_of = self.catalog.documents_of()
            grouped = []
            for pid, score in ranked:
                if doc_of.get(pid) not in seen:
                    seen.add(doc_of.get(pid, ""))
                    grouped.append((pid, score))
            ranked = grouped
        return self._hits(ranked, query, k)

    def search_many(self, queries: Sequence[tuple[str, int, Filters, Mode]]) -> list[list[Hit]]:
        """Batch search: the queries are encoded together."""
        self.refresh()
        dense = len(self.catalog) and any(mode != "bm25" for *_, mode in queries)
        qvecs = self._encoder().encode_queries([q for q, *_ in queries]) if dense else None
        out: list[list[Hit]] = []
        for i, (q, k, f, mode) in enumerate(queries):
            if self._nothing_passes(f):
                out.append([])
                continue
            qv = qvecs[i: i + 1] if qvecs is not None else None
            ranked = self._diversify(self._rank(q, mode, f, max(self.weights.depth, k * 3), qv), q, f)
            out.append(self._hits(ranked, q, k))
        return out

    def timeline(
        self, query: str, *, per_year: int = 3, filters: Filters | None = None, mode: Mode = "hybrid",
        plain: bool = True, keep_empty: bool = False,
    ) -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``.

        ``plain``: a year with nothing on the topic (see :meth:`year_has_topic`) shows no passage instead of
        its least-bad ones: it is left out, or with ``keep_empty`` it maps to an empty list."""
        self.refresh()
        f = filters or Filters()
        qvec = self._encoder().encode_queries([query]) if mode != "bm25" and len(self.catalog) else None
        out: dict[int, list[Hit]] = {}
        for year in self.catalog.years("report"):
            if (f.year_from and year < f.year_from) or (f.year_to and year > f.year_to):
                continue
            yf = Filters(year=year, doc_type="report", issuer=f.issuer, regulation=f.regulation)
            if self._nothing_passes(yf):
                continue
            if plain and qvec is not None and not self.year_has_topic(query, qvec, yf):
                if keep_empty:
                    out[year] = []
                continue
            hits = self._hits(self._rank(query, mode, yf, max(50, per_year * 3), qvec), query, per_year)
            if hits:
                out[year] = hits
        return out

    def year_has_topic(self, query: str, qvec: np.ndarray, f: Filters) -> bool:
        """Whether the passages within ``f`` (one year's reports) say anything on ``query``: the best dense
        cosine reaches ``TOPIC_COSINE``, or a passage among the 5 best of each ranker holds at least
        ``TOPIC_COVERAGE`` of the query's words (calibrated on bench/data/queries.jsonl, see bench/README)."""
        dense = self.vectors.search_vectors(qvec, 5, f)[0]
        floor = TOPIC_COSINE_SHORT if len(re.sub(r"\s", "", query)) <= SHORT_QUERY else TOPIC_COSINE
        if len(dense.scores) and float(dense.scores[0]) >= floor:
            return True
        kw_query = keyword_query(query)
        bm25 = self.keywords.search_keywords(kw_query, 5, f)
        terms = content_terms(self.tokenizer.tokenize(kw_query))
        ids = list(dict.fromkeys(dense.ids.tolist() + bm25.ids.tolist()))
        idf = self._report_idf()
        return any(coverage(terms, p.embed_text, idf) >= TOPIC_COVERAGE for p in self.passages(ids).values())

    def _report_idf(self) -> dict[str, float]:
        """IDF of the stored tokens over the report passages (for weighted coverage), once per generation."""
        if self._idf_generation != self._generation:
            passages = self.store.report_passage_tokens()
            df = Counter(t for tokens in passages for t in {t for t in tokens if len(t) >= 2})
            n = max(len(passages), 1)
            self._idf = {t: math.log(n / c) for t, c in df.items()}
            self._idf_generation = self._generation
        return self._idf

    def _hits(self, ranked: list[tuple[int, float]], query: str, k: int) -> list[Hit]:
        """Hits for the best ``k`` of ``ranked``; a passage whose text repeats a better one is dropped
        (the same article or paragraph ingested from two files), and so is a passage that is only a heading."""
        if not ranked:
            return []
        seen_texts: set[str] = set()
        kept: list[tuple[int, float]] = []
        passages: dict[int, Passage] = {}
        chunk = k * 2 + 10
        for at in range(0, len(ranked), chunk):  # usually one read; more when many are dropped
            part = ranked[at: at + chunk]
            passages.update(self.passages([pid for pid, _ in part]))
            for pid, score in part:
                p = passages.get(pid)
                if p is None or p.text in seen_texts:
                    continue
                seen_texts.add(p.text)
                if self.weights.drop_headings and is_heading_only(p.text, p.section):
                    continue
                kept.append((pid, score))
                if len(kept) == k:
                    break
            if len(kept) == k:
                break
        qterms = [t for t in dict.fromkeys(self.tokenizer.tokenize(query)) if len(t) >= 2]
        hits = []
        for pid, score in kept:
            p = passages[pid]
            d = self._docs.get(p.doc_id)
            hits.append(
                Hit(
                    doc_id=p.doc_id,
                    title=d.title if d else "",
                    issuer=d.issuer if d else None,
                    year=d.year if d else None,
                    doc_type=d.doc_type if d else "",
                    section=p.section,
                    article=p.article,
                    text=p.text,
                    start=p.start,
                    end=p.end,
                    score=round(float(score), 6),
                    passage_id=pid,
                    path=d.path if d else "",
                    terms=[t for t in qterms if re.search(re.escape(t), p.text, re.IGNORECASE)],
                )
            )
        return hits


__all__ = ["Filters", "Hit", "Searcher"]
