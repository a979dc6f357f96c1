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
    # (科学技术进步法 and 天津市科学技术进步促进条例 are studied and revised by the founding report, not implemented:
    # see test_relations_are_distinct_properties)
    for name in ("实验动物管理条例", "人类遗传资源管理条例"):
        result = founding_kb.sparql(MEASURES_IMPLEMENTING % name)
        from_sparql = sorted(row["title"] for row in result["rows"])
        from_library = sorted(m.title for m in founding_kb.measures_for(name).measures)
        assert from_sparql == from_library and from_library, name


MEASURES_IN_RELATION = """
SELECT DISTINCT ?title WHERE {
  ?reg skos:prefLabel|skos:altLabel "%s"@zh .
  ?measure pkg:%s ?reg ; rdfs:label ?title .
}
"""


def test_relations_are_distinct_properties(founding_kb: KnowledgeBase) -> None:
    """What a measure did with a regulation is its own property: the founding report studies 科学技术进步法
    (普法宣传, 科技进步“一法一条例”的宣贯) and revises 天津市科学技术进步促进条例 (修改后的《条例》…施行)."""
    store = founding_kb.store
    for name, relation, title in (
        ("科学技术进步法", "studies", "持续深入推进科技创新法治体系建设和宣贯"),
        ("天津市科学技术进步促进条例", "revises", "加强科技创新立法"),
        ("天津市科学技术进步促进条例", "studies", "加强科技创新立法"),
    ):
        reg = founding_kb.find_regulation(name)
        from_sparql = sorted(row["title"] for row in founding_kb.sparql(MEASURES_IN_RELATION % (name, relation))["rows"])
        result = store.regulation_measures(reg.id, relations=(relation,))
        assert result is not None
        from_library = sorted(m.title for m in result.measures)
        assert from_sparql == from_library and title in from_library, (name, relation)
        assert all(m.relations == [relation] for m in result.measures)
    # "which measures implement X" asks for implementation only, in the library and in SPARQL alike
    reg = founding_kb.find_regulation("科学技术进步法")
    implementing = founding_kb.sparql(MEASURES_IN_RELATION % ("科学技术进步法", "implements"))["rows"]
    assert sorted(r["title"] for r in implementing) == sorted(m.title for m in founding_kb.measures_for(reg.id).measures)
    every = store.regulation_measures(reg.id, relations=None)
    assert every is not None and len(every.measures) > len(implementing)
    rows = founding_kb.sparql("SELECT DISTINCT ?r WHERE { ?a a oa:Annotation ; pkg:relation ?r }")["rows"]
    assert {r["r"] for r in rows} >= {"implements", "studies", "revises"}


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
