"""RDF export and read-only SPARQL agree with the library's answers."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from rdflib import Graph

from policykg.api.errors import KnowledgeBaseError
from policykg.api.kb import KnowledgeBase

MEASURES_IMPLEMENTING = """
SELECT DISTINCT ?measure ?title WHERE {
  ?reg skos:prefLabel|skos:altLabel "%s"@zh .
  ?measure pkg:implements ?reg ; rdfs:label ?title .
}
"""


@pytest.mark.parametrize("fmt", ["turtle", "nt", "jsonld"])
def test_export_parses_back(founding_kb: KnowledgeBase, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"graph.{fmt}"
    n = founding_kb.export(fmt, out)
    g = Graph()
    g.parse(out, format={"turtle": "turtle", "nt": "nt", "jsonld": "json-ld"}[fmt])
    assert len(g) == n > 1000


def test_graphml_export(founding_kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "graph.graphml"
    founding_kb.export("graphml", out)
    g = nx.read_graphml(out)
    types = {d["type"] for _, d in g.nodes(data=True)}
    assert {"document", "measure", "regulation", "article", "unit", "indicator"} <= types


def test_sparql_measures_implementing_equals_the_library(founding_kb: KnowledgeBase) -> None:
    for name in ("实验动物管理条例", "科学技术进步法", "天津市科学技术进步促进条例"):
        result = founding_kb.sparql(MEASURES_IMPLEMENTING % name)
        from_sparql = sorted(row["title"] for row in result["rows"])
        from_library = sorted(m.title for m in founding_kb.measures_for(name).measures)
        assert from_sparql == from_library and from_library, name


def test_evidence_is_a_web_annotation_with_selectors(founding_kb: KnowledgeBase) -> None:
    q = """
    SELECT ?exact ?start ?end ?method WHERE {
      ?ann a oa:Annotation ; pkg:method ?method ; oa:hasBody ?reg ; oa:hasTarget ?t .
      ?reg skos:prefLabel "实验动物管理条例"@zh .
      ?t oa:hasSelector ?q, ?p . ?q a oa:TextQuoteSelector ; oa:exact ?exact .
      ?p a oa:TextPositionSelector ; oa:start ?start ; oa:end ?end .
    }"""
    rows = founding_kb.sparql(q)["rows"]
    assert {r["method"] for r in rows} >= {"citation", "topic"}
    doc = next(d for d in founding_kb.documents() if d.doc_type == "report")
    text = founding_kb.document(doc.id).text
    for r in rows:
        assert text[int(r["start"]): int(r["end"])] == r["exact"]


def test_sparql_is_read_only_and_limited(founding_kb: KnowledgeBase) -> None:
    with pytest.raises(KnowledgeBaseError, match="read-only"):
        founding_kb.sparql('INSERT DATA { <urn:a> <urn:b> "c" }')
    with pytest.raises(KnowledgeBaseError):
        founding_kb.sparql("DROP ALL")
    capped = founding_kb.sparql("SELECT ?s WHERE { ?s ?p ?o }", limit=5)
    assert len(capped["rows"]) == 5 and capped["truncated"]
    assert founding_kb.sparql("ASK { ?m a pkg:Measure }") == {"type": "ask", "boolean": True}
