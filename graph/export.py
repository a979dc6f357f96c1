"""Writing the graph to a file: RDF (Turtle, JSON-LD, N-Triples) or GraphML."""

from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
from rdflib import Graph

RDF_FORMATS = {"turtle": "turtle", "ttl": "turtle", "jsonld": "json-ld", "json-ld": "json-ld", "nt": "nt", "ntriples": "nt"}
FORMATS = (*RDF_FORMATS, "graphml")


class ExportError(ValueError):
    """An export format policykg does not write (one line)."""


def write_rdf(g: Graph, fmt: str, out: Path) -> int:
    """Serialise ``g`` to ``out`` (atomically: a temp file renamed); returns the number of triples."""
    if fmt not in RDF_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use turtle, jsonld, nt or graphml")
    tmp = out.with_name(out.name + ".tmp")
    g.serialize(destination=str(tmp), format=RDF_FORMATS[fmt], encoding="utf-8")
    os.replace(tmp, out)
    return len(g)


def write_graphml(g: nx.MultiDiGraph, out: Path) -> int:
    """Write ``g`` as GraphML (None attributes dropped or emptied); returns the number of edges."""
    safe = nx.MultiDiGraph()
    for n, d in g.nodes(data=True):
        safe.add_node(n, **{k: v for k, v in d.items() if v is not None})
    for u, v, d in g.edges(data=True):
        safe.add_edge(u, v, **{k: ("" if val is None else val) for k, val in d.items()})
    nx.write_graphml(safe, out)
    return int(g.number_of_edges())


__all__ = ["FORMATS", "RDF_FORMATS", "ExportError", "write_graphml", "write_rdf"]
