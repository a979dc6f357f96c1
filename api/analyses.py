"""The analyses the facade offers over the graph: across the years (diff, plans, indicator series),
article coverage of a regulation, and the units × regulations (or × years) overview.

A mixin of :class:`~policykg.api.kb.KnowledgeBase`: it needs the store, the encoder and the name
resolution, nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from policykg.api import resolve
from policykg.api.errors import InvalidParameter, KnowledgeBaseError, NotFound, translated
from policykg.graph import readmodels as rm
from policykg.graph.model import MeasureStatus, Regulation, Unit
from policykg.graph.store import SQLiteStore
from policykg.ingest.protocols import Encoder
from policykg.search import across_years


class Analyses:
    """Diff, plans, indicators, coverage and the overview (see the module docstring)."""

    store: SQLiteStore
    _encoder: Encoder | None

    def find_regulation(self, name: str) -> Regulation:
        """By id, canonical name, any alias, or any form with the same key (科技进步法)."""
        return resolve.regulation(self.store, name)

    def find_unit(self, name: str) -> Unit:
        """By id, name or alias."""
        return resolve.unit(self.store, name)

    def diff(self, issuer: str, year_from: int, year_to: int, *, status: MeasureStatus | None = None) -> dict[str, Any]:
        """Continued, new and dropped measures of the report on ``year_to`` against the one on ``year_from``."""
        resolve.choices((status, MeasureStatus, "status"))
        with translated():
            return across_years.diff(self.store, self._encoder, issuer, int(year_from), int(year_to), status=status)

    def plans(self, issuer: str, year: int) -> dict[str, Any]:
        """The measures planned for ``year`` against the report on ``year``: carried out or not reported."""
        with translated():
            return across_years.plans(self.store, self._encoder, issuer, int(year))

    def indicators(self, issuer: str, name: str | None = None) -> list[dict[str, Any]]:
        """Indicator series (targets and actuals) of ``issuer``'s reports, optionally one name or variant."""
        if not across_years.issuer_reports(self.store, issuer):
            raise NotFound(f"no report of {issuer!r} (see `policykg documents`)")
        return across_years.indicators(self.store, issuer, name)

    # ------------------------------------------------------------------ coverage and the overview
    def coverage(
        self, regulation: str, *, issuer: str | None = None, year_from: int | None = None, year_to: int | None = None,
    ) -> rm.Coverage:
        """Which articles of a regulation held in full have measures (of ``issuer``, in the years) whose links name them."""
        reg = self.find_regulation(regulation)
        if reg.doc_id is None:
            raise KnowledgeBaseError(f"no full text: {reg.name} is only cited (ingest its text to see which articles are covered)")
        return resolve.found(self.store.regulation_coverage(reg.id, resolve.scope(self.store, issuer, year_from, year_to)), regulation)

    def overview(
        self, *, by: str = "regulation", issuer: str | None = None, year_from: int | None = None, year_to: int | None = None,
        relation: str | None = "implements", methods: Sequence[str] | None = None, max_units: int = 50, max_targets: int = 100,
    ) -> rm.Overview:
        """Units × regulations (or × years), edge weight = distinct measures that implement (``relation``: that draft,
        revise or study; None: any), cut to the heaviest units and targets."""
        resolve.choices((by, rm.OverviewBy, "by"), (relation, rm.LinkRelation, "relation"))
        resolve.methods(methods)
        return self.store.overview(
            by=by, scope=resolve.scope(self.store, issuer, year_from, year_to), relation=relation, methods=methods,
            max_units=max_units, max_targets=max_targets,
        )

    def overview_edge(
        self, unit: str, *, regulation: str | None = None, year: int | None = None, issuer: str | None = None,
        year_from: int | None = None, year_to: int | None = None, relation: str | None = "implements", methods: Sequence[str] | None = None,
    ) -> rm.OverviewEdgeDetail:
        """The measures behind one overview edge (``unit`` → ``regulation``, or ``unit`` → ``year``), with their evidence."""
        if (regulation is None) == (year is None):
            raise InvalidParameter("give either a regulation or a year, not both or neither")
        resolve.choices((relation, rm.LinkRelation, "relation"))
        resolve.methods(methods)
        unit_id = self.find_unit(unit).id
        reg_id = self.find_regulation(regulation).id if regulation is not None else None
        detail = self.store.overview_edge(
            unit_id, regulation_id=reg_id, year=year, scope=resolve.scope(self.store, issuer, year_from, year_to), relation=relation, methods=methods,
        )
        return resolve.found(detail, unit)


__all__ = ["Analyses"]
