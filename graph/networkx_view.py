"""The knowledge graph as a networkx MultiDiGraph: documents, measures, regulations, articles, units, indicators.

What ``policykg viz`` and the HTTP graph view draw (:func:`responsibility_graph`) and ``policykg export
--format graphml`` writes; built from the store in one snapshot.
"""

from __future__ import annotations

import json
from typing import Any

import networkx as nx

from policykg.graph.store import SQLiteStore


def build_graph(store: SQLiteStore, *, year: int | None = None, with_articles: bool = True, with_indicators: bool = True) -> nx.MultiDiGraph:
    """Nodes keyed by id with ``type`` and ``label``; edges with ``relation`` (and evidence on a link: ``implements``, ``drafts``, ``revises``, ``studies``)."""
    g = nx.MultiDiGraph()
    with store.snapshot():
        for d in store.documents():
            g.add_node(d.id, type="document", label=d.title, doc_type=d.doc_type, year=d.year or 0, issuer=d.issuer or "")
        regs = store.regulations()
        for r in regs:
            g.add_node(r.id, type="regulation", label=r.name, kind=r.kind, aliases=json.dumps(r.aliases, ensure_ascii=False))
            if r.doc_id and r.doc_id in g:
                g.add_edge(r.id, r.doc_id, relation="text")
        if with_articles:
            for a in store.articles():
                g.add_node(a.id, type="article", label=a.label, chapter=a.chapter)
                g.add_edge(a.id, a.regulation_id, relation="part_of")
        units = store.units()
        for u in units:
            g.add_node(u.id, type="unit", label=u.name, kind=u.kind or "")
        for u in units:
            if u.parent_id and u.parent_id in g:
                g.add_edge(u.id, u.parent_id, relation="sub_unit_of")
        kept_measures: set[str] = set()
        for m in store.measures():
            if year is not None and m.year != year:
                continue
            kept_measures.add(m.id)
            g.add_node(m.id, type="measure", label=m.title, year=m.year or 0, status=m.status, section=m.section, doc_id=m.doc_id, start=m.start, end=m.end)
            g.add_edge(m.id, m.doc_id, relation="part_of")
            for unit_id in m.units:
                if unit_id in g:
                    g.add_edge(unit_id, m.id, relation="responsible_for")
        for link in store.links():
            if link.measure_id not in kept_measures:
                continue
            ev = link.evidence
            attrs: dict[str, Any] = {
                "relation": link.relation, "method": ev.method, "quote": ev.quote, "start": ev.start, "end": ev.end,
                "score": ev.score, "article": ev.article or "",
            }
            g.add_edge(link.measure_id, link.regulation_id, **attrs)
            if link.article_id and link.article_id in g and link.relation == "implements":
                g.add_edge(link.measure_id, link.article_id, relation="implements_article", method=ev.method)
        if with_indicators:
            for i in store.indicators():
                if i.measure_id in kept_measures:
                    g.add_node(i.id, type="indicator", label=f"{i.name} {i.value:g}{i.unit}", value=i.value, unit=i.unit)
                    g.add_edge(i.measure_id, i.id, relation="has_indicator")
    return g


def responsibility_graph(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """Units ↔ measures ↔ regulations only (what the picture shows)."""
    nodes = [n for n, d in g.nodes(data=True) if d.get("type") in ("unit", "measure", "regulation")]
    sub = g.subgraph(nodes).copy()
    sub.remove_nodes_from([n for n in list(sub) if sub.degree(n) == 0])
    return sub
