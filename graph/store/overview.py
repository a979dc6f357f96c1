"""The responsibility picture at corpus scale: units × regulations (or × years), aggregated in SQL.

An edge's weight is the number of distinct measures that have the unit among their responsible units
and a link (in the filters) to the regulation, or a link to any regulation in that year. Only the
heaviest units and targets are kept; the answer says how many were left out. Every link stored today
is an ``implements`` link, so the relation filter keeps all of them or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from policykg.graph.model import Evidence
from policykg.graph.readmodels import (
    LinkRelation,
    MeasureLink,
    Overview,
    OverviewBy,
    OverviewEdge,
    OverviewEdgeDetail,
    OverviewLeftOut,
    OverviewMeasure,
    OverviewNode,
    RegulationRef,
    UnitRef,
)
from policykg.graph.store.coverage import EVERYTHING, Scope, StoreCoverage
from policykg.graph.store.schema import chunks
from policykg.graph.store.summaries import _METHOD_ORDER

STORED_RELATION = "implements"  # the relation of a link in a store older than relations
_BEST = "min(CASE l.method " + " ".join(f"WHEN '{m}' THEN {i}" for i, m in enumerate(_METHOD_ORDER)) + f" ELSE {len(_METHOD_ORDER)} END)"
assert set(get_args(LinkRelation)) >= {STORED_RELATION}
assert set(get_args(OverviewBy)) == {"regulation", "year"}


def _year_id(year: int) -> str:
    return f"year:{year}"


class StoreOverview(StoreCoverage):
    """Aggregates of measures by responsible unit and regulation or year, and one edge's measures."""

    def _link_filter(self, scope: Scope, relation: str | None, methods: Sequence[str] | None) -> tuple[str, list[Any]]:
        """`` AND …`` conditions on ``l`` (a link), ``m`` (its measure), ``d`` (the measure's document);
        ``relation`` None: links of every relation."""
        condition, params = scope.sql()
        if relation and "relation" in self._table_columns("links"):
            condition += " AND l.relation = ?"
            params = [*params, relation]
        elif relation and relation != STORED_RELATION:
            condition += " AND 0"
        if methods:
            condition += f" AND l.method IN ({','.join('?' * len(methods))})"
            params += list(methods)
        return condition, params

    def _scoped(self, by: str, scope: Scope, relation: str | None, methods: Sequence[str] | None) -> tuple[str, list[Any]]:
        """A ``WITH scoped(unit, target, measure, best)`` clause: one row per unit, target and measure."""
        target = "l.regulation_id" if by == "regulation" else "m.year"
        condition, params = self._link_filter(scope, relation, methods)
        return (
            f"WITH scoped AS (SELECT mu.unit_id AS unit, {target} AS target, l.measure_id AS measure, {_BEST} AS best "
            "FROM links l JOIN measures m ON m.id = l.measure_id JOIN documents d ON d.id = m.doc_id "
            f"JOIN measure_units mu ON mu.measure_id = l.measure_id WHERE {target} IS NOT NULL{condition} GROUP BY 1, 2, 3) "
        ), params

    def overview(
        self, *, by: str = "regulation", scope: Scope = EVERYTHING, relation: str | None = None,
        methods: Sequence[str] | None = None, max_units: int = 50, max_targets: int = 100,
    ) -> Overview:
        """Units × regulations (``by="regulation"``) or units × years, cut to the heaviest units and targets."""
        with_scoped, params = self._scoped(by, scope, relation, methods)
        condition, link_params = self._link_filter(scope, relation, methods)
        sums = ", ".join(f"sum(best = {i}) AS m{i}" for i in range(len(_METHOD_ORDER)))
        with self.snapshot():
            edge_rows = self._rows(with_scoped + f"SELECT unit, target, count(*) AS weight, {sums} FROM scoped GROUP BY 1, 2", params)
            unit_rows = self._rows(with_scoped + "SELECT unit, count(DISTINCT measure) AS weight FROM scoped GROUP BY 1", params)
            target_rows = self._rows(with_scoped + "SELECT target, count(DISTINCT measure) AS weight FROM scoped GROUP BY 1", params)
            total = self._rows(with_scoped + "SELECT count(DISTINCT measure) AS n FROM scoped", params)[0]["n"]
            without_unit = self._rows(
                "SELECT count(DISTINCT l.measure_id) AS n FROM links l JOIN measures m ON m.id = l.measure_id "
                "JOIN documents d ON d.id = m.doc_id WHERE NOT EXISTS (SELECT 1 FROM measure_units mu WHERE mu.measure_id = l.measure_id)"
                + condition, link_params,
            )[0]["n"]
            unit_info = {u.id: u for u in self.units()} if unit_rows else {}
            reg_info = {r.id: r for r in self.regulations()} if by == "regulation" and target_rows else {}
        units = sorted(
            (OverviewNode(id=r["unit"], type="unit", label=unit_info[r["unit"]].name, weight=r["weight"], kind=unit_info[r["unit"]].kind)
             for r in unit_rows if r["unit"] in unit_info),
            key=lambda n: (-n.weight, n.label),
        )
        if by == "regulation":
            targets = sorted(
                (OverviewNode(id=r["target"], type="regulation", label=reg_info[r["target"]].name, weight=r["weight"],
                              kind=reg_info[r["target"]].kind) for r in target_rows if r["target"] in reg_info),
                key=lambda n: (-n.weight, n.label),
            )[:max_targets]
        else:
            heaviest = sorted(target_rows, key=lambda r: (-r["weight"], r["target"]))[:max_targets]
            targets = [OverviewNode(id=_year_id(r["target"]), type="year", label=str(r["target"]), weight=r["weight"])
                       for r in sorted(heaviest, key=lambda r: r["target"])]
        kept_units, kept_targets = {n.id for n in units[:max_units]}, {n.id for n in targets}
        edges: list[OverviewEdge] = []
        for r in sorted(edge_rows, key=lambda r: (-r["weight"], r["unit"], str(r["target"]))):
            target = r["target"] if by == "regulation" else _year_id(r["target"])
            if r["unit"] in kept_units and target in kept_targets:
                methods_of = {m: r[f"m{i}"] for i, m in enumerate(_METHOD_ORDER) if r[f"m{i}"]}
                edges.append(OverviewEdge(id=f"e{len(edges)}", source=r["unit"], target=target, weight=r["weight"], methods=methods_of))
        return Overview(
            by=by,
            filters={"issuer": scope.issuer, "from": scope.year_from, "to": scope.year_to, "relation": relation, "method": list(methods or [])},
            measures=total, without_unit=without_unit, units=units[:max_units], targets=targets, edges=edges,
            left_out=OverviewLeftOut(units=max(0, len(units) - max_units), targets=len(target_rows) - len(targets),
                                     edges=len(edge_rows) - len(edges)),
        )

    def overview_edge(
        self, unit_id: str, *, regulation_id: str | None = None, year: int | None = None, scope: Scope = EVERYTHING,
        relation: str | None = None, methods: Sequence[str] | None = None,
    ) -> OverviewEdgeDetail | None:
        """The measures behind one edge (unit → regulation, or unit → year), each with its links in the filters.

        None: no such unit or regulation. The measures are those the overview counted for that edge,
        by year, document title and position; their links are the ones to that regulation (to any, for a year).
        """
        unit = next((u for u in self.units() if u.id == unit_id), None)
        reg = self._regulation(regulation_id) if regulation_id is not None else None
        if unit is None or (regulation_id is not None and reg is None):
            return None
        by, target = ("regulation", reg.id) if reg is not None else ("year", year)
        with_scoped, params = self._scoped(by, scope, relation, methods)
        condition, link_params = self._link_filter(scope, relation, methods)
        with self.snapshot():
            ids = [r["measure"] for r in self._rows(with_scoped + "SELECT measure FROM scoped WHERE unit = ? AND target = ?",
                                                    [*params, unit.id, target])]
            briefs = self._measure_briefs(ids)
            names = self.regulation_names()
            links: dict[str, list[MeasureLink]] = {}
            for marks, part in chunks(ids):
                rows = self._rows(
                    "SELECT l.* FROM links l JOIN measures m ON m.id = l.measure_id JOIN documents d ON d.id = m.doc_id "
                    f"WHERE l.measure_id IN ({marks})" + (" AND l.regulation_id = ?" if reg else "") + condition,
                    [*part, *([reg.id] if reg else []), *link_params],
                )
                for r in rows:
                    ev = Evidence(r["method"], r["quote"], r["start"], r["end"], r["score"], r["article"], r["mention"],
                                  r["mention_start"], r["mention_end"])
                    links.setdefault(r["measure_id"], []).append(MeasureLink(
                        regulation=UnitRef(id=r["regulation_id"], name=names.get(r["regulation_id"], r["regulation_id"])),
                        relation=r.get("relation", STORED_RELATION), **vars(ev),
                    ))
        measures = []
        for measure_id, brief in briefs.items():
            found = sorted(links.get(measure_id, []), key=lambda x: (x.regulation.name, _METHOD_ORDER.index(x.method), x.start))
            measures.append(OverviewMeasure(**vars(brief), links=found))
        measures.sort(key=lambda m: (m.year or 0, m.document.title, m.start))
        return OverviewEdgeDetail(
            unit=UnitRef(id=unit.id, name=unit.name),
            regulation=RegulationRef(id=reg.id, name=reg.name, aliases=reg.aliases, kind=reg.kind) if reg else None,
            year=year if reg is None else None, weight=len(measures), measures=measures,
        )
