"""Which articles of a regulation held in full have implementing measures, in which years and by whom.

An article counts a measure when a link of that measure to the regulation names the article: by
``links.article_id``, else by its label (``evidence.article``, 第十五条) in the current text. Links
without an article, or naming one the stored text lacks, cover no article; they are answered apart
("linked to the regulation without an article").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from policykg.graph.model import Article
from policykg.graph.readmodels import (
    ArticleCoverage,
    ChapterCoverage,
    Coverage,
    CoverageMeasure,
    CoverageSummary,
    MeasureBrief,
    RegulationRef,
)
from policykg.graph.store.summaries import _METHOD_ORDER, StoreSummaries


@dataclass(frozen=True)
class Scope:
    """Which measures an aggregate counts: of reports whose issuer contains ``issuer``, of years in [from, to]."""

    issuer: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def sql(self, measure: str = "m", document: str = "d") -> tuple[str, list[Any]]:
        """`` AND …`` conditions on a measure and its document (aliases ``measure``/``document``), with parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.issuer:
            parts.append(f"instr(coalesce({document}.issuer, ''), ?) > 0")
            params.append(self.issuer)
        if self.year_from is not None:
            parts.append(f"{measure}.year >= ?")
            params.append(self.year_from)
        if self.year_to is not None:
            parts.append(f"{measure}.year <= ?")
            params.append(self.year_to)
        return "".join(f" AND {p}" for p in parts), params


EVERYTHING = Scope()


def _method_rank(method: str) -> int:
    return _METHOD_ORDER.index(method) if method in _METHOD_ORDER else len(_METHOD_ORDER)


def _covering(brief: MeasureBrief, link: dict[str, Any], article: str | None) -> CoverageMeasure:
    return CoverageMeasure(
        id=brief.id, title=brief.title, year=brief.year, status=brief.status, document=brief.document, units=brief.units,
        method=link["method"], quote=link["quote"], start=link["start"], end=link["end"], score=link["score"], article=article,
    )


class StoreCoverage(StoreSummaries):
    """Article coverage of a regulation, and the scope every aggregate shares."""

    def issuer_known(self, issuer: str) -> bool:
        """Whether a document's issuer contains ``issuer``."""
        return bool(self._rows("SELECT 1 FROM documents WHERE instr(coalesce(issuer, ''), ?) > 0 LIMIT 1", (issuer,)))

    def scope_years(self, scope: Scope) -> list[int]:
        """The years of the measures of the reports in scope (the columns of a year grid)."""
        condition, params = scope.sql()
        rows = self._rows(
            "SELECT DISTINCT m.year FROM measures m JOIN documents d ON d.id = m.doc_id "
            f"WHERE d.doc_type = 'report' AND m.year IS NOT NULL{condition} ORDER BY m.year", params,
        )
        return [int(r["year"]) for r in rows]

    def regulation_coverage(self, regulation_id: str, scope: Scope = EVERYTHING) -> Coverage | None:
        """The articles of the regulation's current text by chapter, each with the measures (in scope) naming it.

        None: no such regulation. A regulation without a full text has no chapters (the facade refuses it).
        Each measure appears once per article, with its best link (citation, alias, topic, semantic; then
        first in the text); ``counts_by_year`` counts distinct measures.
        """
        reg = self._regulation(regulation_id)
        if reg is None:
            return None
        articles = self.articles(reg.id)
        by_id = {a.id: a for a in articles}
        by_label = {a.label: a for a in articles}
        condition, params = scope.sql()
        links = self._rows(
            'SELECT l.measure_id, l.method, l.quote, l.start, l."end", l.score, l.article, l.article_id '
            "FROM links l JOIN measures m ON m.id = l.measure_id JOIN documents d ON d.id = m.doc_id "
            f"WHERE l.regulation_id = ?{condition}"
            + (" AND l.relation = 'implements'" if "relation" in self._table_columns("links") else ""),
            [reg.id, *params],
        )
        links.sort(key=lambda r: (_method_rank(r["method"]), r["start"] or 0))
        best: dict[tuple[str | None, str], dict[str, Any]] = {}  # (article id or None, measure id) → its best link
        for link in links:
            art = by_id.get(link["article_id"] or "") or (by_label.get(link["article"]) if link["article"] else None)
            best.setdefault((art.id if art else None, link["measure_id"]), link)
        briefs = self._measure_briefs(sorted({m for _, m in best}))
        order = sorted(briefs.values(), key=lambda b: (b.year or 0, b.document.title, b.start))
        position = {b.id: i for i, b in enumerate(order)}
        per_article: dict[str | None, list[CoverageMeasure]] = {}
        for (art_id, measure_id), link in sorted(best.items(), key=lambda kv: position.get(kv[0][1], -1)):
            if measure_id in briefs:
                label = by_id[art_id].label if art_id else link["article"]
                per_article.setdefault(art_id, []).append(_covering(briefs[measure_id], link, label))
        chapters = _chapters(articles, per_article)
        covered = sum(1 for c in chapters for a in c.articles if a.total)
        without = per_article.get(None, [])
        return Coverage(
            regulation=RegulationRef(id=reg.id, name=reg.name, aliases=reg.aliases, kind=reg.kind),
            issuer=scope.issuer, year_from=scope.year_from, year_to=scope.year_to,
            years=self.scope_years(scope), chapters=chapters, without_article=without,
            summary=CoverageSummary(
                articles=len(articles), covered=covered, uncovered=len(articles) - covered,
                measures=len({m.id for art_id, ms in per_article.items() if art_id for m in ms}),
                without_article=len(without),
            ),
        )


def _chapters(articles: Sequence[Article], per_article: dict[str | None, list[CoverageMeasure]]) -> list[ChapterCoverage]:
    """Articles in text order, grouped by consecutive chapter, each with its measures and counts per year."""
    chapters: list[ChapterCoverage] = []
    for a in articles:
        if not chapters or chapters[-1].title != a.chapter:
            chapters.append(ChapterCoverage(title=a.chapter, articles=[]))
        measures = per_article.get(a.id, [])
        counts: dict[int, int] = {}
        for m in measures:
            if m.year is not None:
                counts[m.year] = counts.get(m.year, 0) + 1
        chapters[-1].articles.append(ArticleCoverage(
            id=a.id, label=a.label, number=a.number, counts_by_year=dict(sorted(counts.items())), total=len(measures), measures=measures,
        ))
    return chapters
