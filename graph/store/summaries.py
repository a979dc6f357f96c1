"""The store's answers to the facade: regulations, measures, units and documents as typed read models.

Each method returns a read model of :mod:`policykg.graph.readmodels` (what the CLI's ``--json`` and
the HTTP API's ``response_model`` show), or None when there is no such id. Lookups by name stay in
the facade; these take ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from policykg.graph.model import Evidence, LinkMethod, Regulation, Unit
from policykg.graph.readmodels import (
    ArticleText,
    DocumentDetail,
    DocumentRef,
    MeasureBrief,
    MeasureDetail,
    MeasureEvidence,
    MeasureLink,
    RegulationDetail,
    RegulationMeasures,
    RegulationRef,
    RegulationSummary,
    UnitBrief,
    UnitDetail,
    UnitRef,
    UnitSummary,
)
from policykg.graph.store.read import StoreReads
from policykg.graph.store.schema import chunks

_METHOD_ORDER: tuple[str, ...] = get_args(LinkMethod)  # citation, alias, topic, semantic: best evidence first


def _unit_brief(u: Unit) -> UnitBrief:
    return UnitBrief(id=u.id, name=u.name, kind=u.kind, parent_id=u.parent_id, aliases=u.aliases)


class StoreSummaries(StoreReads):
    """Read models for the facade, built from one or a few statements each."""

    def _regulation(self, regulation_id: str) -> Regulation | None:
        return next(iter(self.regulations(regulation_id)), None)

    # -- regulations
    def regulation_summaries(self) -> list[RegulationSummary]:
        """Every regulation with its article count (current text), how many measures implement it (and by how
        many links), and how many links of each relation (implements, drafts, revises, studies) point at it."""
        has_relation = "relation" in self._table_columns("links")
        relation = "relation" if has_relation else "'implements'"
        links = {r["regulation_id"]: r for r in self._rows(
            f"SELECT regulation_id, count(DISTINCT measure_id) AS measures, count(*) AS links FROM links "
            f"WHERE {relation} = 'implements' GROUP BY regulation_id"
        )}
        by_relation: dict[str, dict[str, int]] = {}
        for r in self._rows(f"SELECT regulation_id, {relation} AS relation, count(*) AS n FROM links GROUP BY 1, 2"):
            by_relation.setdefault(r["regulation_id"], {})[r["relation"]] = r["n"]
        articles = {r["regulation_id"]: r["n"] for r in self._rows(
            "SELECT a.regulation_id, count(*) AS n FROM articles a JOIN regulations r "
            "ON r.id = a.regulation_id AND r.doc_id = a.doc_id GROUP BY a.regulation_id"
        )}
        return [
            RegulationSummary(
                id=r.id, name=r.name, aliases=r.aliases, kind=r.kind, doc_id=r.doc_id, topic=r.topic, jurisdiction=r.jurisdiction,
                articles=articles.get(r.id, 0),
                measures=links.get(r.id, {}).get("measures", 0), links=links.get(r.id, {}).get("links", 0),
                relations=by_relation.get(r.id, {}),
            )
            for r in self.regulations()
        ]

    def regulation_detail(self, regulation_id: str) -> RegulationDetail | None:
        """A regulation and the articles of its current full text."""
        r = self._regulation(regulation_id)
        if r is None:
            return None
        articles = [
            ArticleText(id=a.id, label=a.label, number=a.number, chapter=a.chapter, text=a.text, start=a.start, end=a.end)
            for a in self.articles(r.id)
        ]
        return RegulationDetail(
            id=r.id, name=r.name, aliases=r.aliases, kind=r.kind, doc_id=r.doc_id, topic=r.topic, jurisdiction=r.jurisdiction,
            articles=articles,
        )

    def regulation_measures(
        self, regulation_id: str, *, year: int | None = None, methods: Sequence[str] | None = None,
        relations: Sequence[str] | None = ("implements",),
    ) -> RegulationMeasures | None:
        """The measures implementing a regulation (of ``year``; by the given link methods), each with its evidence.

        ``relations`` chooses what the measures did with it (implements by default; drafts, revises, studies;
        None: all). Measures by (year, document title, start); each one's evidence by method (citation, alias,
        topic, semantic), then start.
        """
        reg = self._regulation(regulation_id)
        if reg is None:
            return None
        by_measure: dict[str, list[Evidence]] = {}
        relations_of: dict[str, list[str]] = {}
        for link in self.links(regulation_id=reg.id):
            if (not methods or link.evidence.method in methods) and (not relations or link.relation in relations):
                by_measure.setdefault(link.measure_id, []).append(link.evidence)
                if link.relation not in relations_of.setdefault(link.measure_id, []):
                    relations_of[link.measure_id].append(link.relation)
        briefs = self._measure_briefs(list(by_measure))
        out: list[MeasureEvidence] = []
        for measure_id, evidence in by_measure.items():
            m = briefs.get(measure_id)
            if m is None or (year is not None and m.year != year):
                continue
            evidence.sort(key=lambda e: (_METHOD_ORDER.index(e.method), e.start))
            out.append(MeasureEvidence(**vars(m), evidence=evidence, relations=relations_of[measure_id]))
        out.sort(key=lambda m: (m.year or 0, m.document.title, m.start))
        return RegulationMeasures(regulation=RegulationRef(id=reg.id, name=reg.name, aliases=reg.aliases, kind=reg.kind), measures=out)

    # -- measures
    def _measure_briefs(self, ids: Sequence[str]) -> dict[str, MeasureBrief]:
        """Measure id → the measure with its document and responsible units (unknown ids left out)."""
        if not ids:
            return {}
        unit_names = {r["id"]: r["name"] for r in self._rows("SELECT id, name FROM units")}
        rows = []
        for marks, part in chunks(ids):
            rows += self._rows(
                f"SELECT m.*, d.title AS doc_title, {self.shown_path()} AS doc_path FROM measures m JOIN documents d ON d.id = m.doc_id "
                f"WHERE m.id IN ({marks})", part,
            )
        units_of: dict[str, list[str]] = {}
        source_of: dict[str, str] = {}
        source = "source" if "source" in self._table_columns("measure_units") else "'text' AS source"
        for marks, part in chunks(ids):
            for r in self._rows(
                f"SELECT measure_id, unit_id, {source} FROM measure_units WHERE measure_id IN ({marks}) ORDER BY rank", part
            ):
                units_of.setdefault(r["measure_id"], []).append(r["unit_id"])
                source_of.setdefault(r["measure_id"], r["source"])
        return {
            r["id"]: MeasureBrief(
                id=r["id"], title=r["title"], text=r["text"], year=r["year"], status=r["status"], start=r["start"], end=r["end"],
                document=DocumentRef(id=r["doc_id"], title=r["doc_title"], path=r["doc_path"]),
                section=r["section"],
                units=[UnitRef(id=u, name=unit_names[u]) for u in units_of.get(r["id"], []) if u in unit_names],
                parent_id=r.get("parent_id"), unit_source=source_of.get(r["id"], "text"),
            )
            for r in rows
        }

    def measure_detail(self, measure_id: str) -> MeasureDetail | None:
        """A measure, the regulations it implements (with the evidence) and the figures it states."""
        m = self._measure_briefs([measure_id]).get(measure_id)
        if m is None:
            return None
        names = self.regulation_names()
        links = [
            MeasureLink(
                regulation=UnitRef(id=link.regulation_id, name=names[link.regulation_id]), relation=link.relation,
                **vars(link.evidence),
            )
            for link in self.links(measure_id=measure_id) if link.regulation_id in names
        ]
        return MeasureDetail(**vars(m), links=links, indicators=self.indicators(measure_id=measure_id))

    # -- units
    def unit_summaries(self) -> list[UnitSummary]:
        """Every unit and how many measures it is responsible for."""
        counts = {r["unit_id"]: r["n"] for r in self._rows("SELECT unit_id, count(*) AS n FROM measure_units GROUP BY unit_id")}
        return [UnitSummary(**vars(_unit_brief(u)), measures=counts.get(u.id, 0)) for u in self.units()]

    def unit_detail(self, unit_id: str) -> UnitDetail | None:
        """A unit, its parent and sub-units, and the measures it is responsible for (by year, then position)."""
        units = self.units()
        u = next((x for x in units if x.id == unit_id), None)
        if u is None:
            return None
        ids = [r["measure_id"] for r in self._rows("SELECT measure_id FROM measure_units WHERE unit_id=?", (u.id,))]
        measures = sorted(self._measure_briefs(ids).values(), key=lambda m: (m.year or 0, m.start))
        parent = next((_unit_brief(p) for p in units if p.id == u.parent_id), None)
        children = [_unit_brief(c) for c in units if c.parent_id == u.id]
        return UnitDetail(**vars(_unit_brief(u)), parent=parent, children=children, measures=measures)

    # -- documents
    def document_detail(self, doc_id: str) -> DocumentDetail | None:
        """A document's metadata and its stored text."""
        doc = self.document(doc_id)
        if doc is None:
            return None
        return DocumentDetail(
            id=doc.id, path=doc.path, title=doc.title, doc_type=doc.doc_type, issuer=doc.issuer, year=doc.year,
            published=doc.published, format=doc.format, length=len(doc.text), content_hash=doc.content_hash, text=doc.text,
        )
