"""The graph as RDF: vocabularies (ELI, W3C ORG, PROV-O, Web Annotation, SKOS, Dublin Core), node URIs, triples.

:func:`build_rdf` is the whole graph; :func:`shared_graph` (regulations and units),
:func:`document_graph` (one document) and :func:`links_graph` (links as annotations, per document)
are the named graphs a SPARQL server is kept in step with. SPARQL itself runs in :mod:`.sparql`.
"""

from __future__ import annotations

import hashlib

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, PROV, SKOS

from policykg.graph.readmodels import DocumentSummary
from policykg.graph.store import SQLiteStore

BASE = "https://policykg.org/id/"
PKG = Namespace("https://policykg.org/ns#")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
ORG = Namespace("http://www.w3.org/ns/org#")
OA = Namespace("http://www.w3.org/ns/oa#")

# a link's relation as the property from measure to regulation (pkg:implements is what "which measures
# implement X" asks; pkg:drafts / pkg:revises / pkg:studies are kept apart)
RELATION_PROPERTY = {
    "implements": PKG.implements, "drafts": PKG.drafts, "revises": PKG.revises, "studies": PKG.studies,
}

PREFIXES = {"pkg": PKG, "eli": ELI, "org": ORG, "oa": OA, "dct": DCTERMS, "prov": PROV, "skos": SKOS, "xsd": XSD, "rdfs": RDFS}


def uri(node_id: str) -> URIRef:
    """``measure:1a2b…`` → https://policykg.org/id/measure/1a2b…"""
    kind, _, rest = node_id.partition(":")
    return URIRef(f"{BASE}{kind}/{rest}")


def node_id(u: str) -> str:
    """The inverse of :func:`uri`."""
    kind, _, rest = str(u)[len(BASE):].partition("/")
    return f"{kind}:{rest}"


def _year(y: int | None) -> Literal | None:
    return Literal(f"{y:04d}", datatype=XSD.gYear) if y else None


def _bind(g: Graph) -> Graph:
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    return g


def build_rdf(store: SQLiteStore, graph: Graph | None = None) -> Graph:
    """Every document, measure, regulation, article, unit, indicator and link as triples."""
    g = _bind(graph if graph is not None else Graph())
    with store.snapshot():
        for t in shared_graph(store):
            g.add(t)
        for d in store.documents():
            for t in document_graph(store, d):
                g.add(t)
        for part in links_graph(store).values():
            for t in part:
                g.add(t)
    return g


def shared_graph(store: SQLiteStore) -> Graph:
    """Regulations (names, aliases, kind, full text) and units (names, hierarchy)."""
    g = _bind(Graph())
    add = g.add
    for r in store.regulations():
        s = uri(r.id)
        add((s, RDF.type, ELI.LegalResource))
        add((s, ELI.title, Literal(r.name, lang="zh")))
        add((s, SKOS.prefLabel, Literal(r.name, lang="zh")))
        add((s, PKG.kind, Literal(r.kind)))
        if r.jurisdiction:
            add((s, PKG.jurisdiction, Literal(r.jurisdiction, lang="zh")))
        for alias in r.aliases:
            add((s, SKOS.altLabel, Literal(alias, lang="zh")))
        if r.doc_id:
            add((s, ELI.is_realized_by, uri(r.doc_id)))
    for u in store.units():
        s = uri(u.id)
        add((s, RDF.type, ORG.Post if u.kind == "role" else ORG.Organization))
        add((s, SKOS.prefLabel, Literal(u.name, lang="zh")))
        add((s, PKG.unitKind, Literal(u.kind)))  # organisation | group (各区, 区直各单位) | role
        for alias in u.aliases:
            add((s, SKOS.altLabel, Literal(alias, lang="zh")))
        if u.parent_id and u.kind == "role":  # 局主要负责人: a post in the bureau
            add((s, ORG.postIn, uri(u.parent_id)))
            add((uri(u.parent_id), ORG.hasPost, s))
        elif u.parent_id:  # 区司法局 under 南山区人民政府, 局党委 in the bureau
            add((s, ORG.subOrganizationOf, uri(u.parent_id)))
            add((uri(u.parent_id), ORG.hasSubOrganization, s))
    return g


def document_graph(store: SQLiteStore, d: DocumentSummary) -> Graph:
    """One document (an item of ``store.documents()``) with its measures, articles and indicators."""
    g = _bind(Graph())
    add = g.add
    s = uri(d.id)
    add((s, RDF.type, PKG.Report if d.doc_type == "report" else ELI.LegalExpression))
    add((s, DCTERMS.title, Literal(d.title, lang="zh")))
    add((s, DCTERMS.source, Literal(d.path)))
    if d.issuer:
        add((s, DCTERMS.publisher, Literal(d.issuer, lang="zh")))
    if (y := _year(d.year)) is not None:
        add((s, DCTERMS.temporal, y))
    if d.published:
        add((s, DCTERMS.issued, Literal(d.published)))
    for a in store.articles(doc_id=d.id):
        s = uri(a.id)
        add((s, RDF.type, ELI.LegalResourceSubdivision))
        add((s, ELI.is_part_of, uri(a.regulation_id)))
        add((uri(a.regulation_id), ELI.has_part, s))
        add((s, ELI.number, Literal(a.label, lang="zh")))
        add((s, PKG.articleNumber, Literal(a.number)))
        add((s, ELI.description, Literal(a.text, lang="zh")))
    for m in store.measures(d.id):
        s = uri(m.id)
        add((s, RDF.type, PKG.Measure))
        add((s, RDFS.label, Literal(m.title, lang="zh")))
        add((s, DCTERMS.isPartOf, uri(m.doc_id)))
        if m.parent_id:  # an item (一是…) of a larger measure
            add((s, PKG.partOfMeasure, uri(m.parent_id)))
        add((s, PKG.status, Literal(m.status)))
        add((s, PKG.section, Literal(m.section, lang="zh")))
        if (y := _year(m.year)) is not None:
            add((s, PKG.year, y))
        add((s, PKG.start, Literal(m.start)))
        add((s, PKG.end, Literal(m.end)))
        for unit_id in m.units:
            add((s, PKG.responsibleUnit, uri(unit_id)))
            add((s, PROV.wasAttributedTo, uri(unit_id)))
        if m.units:  # text: named by the measure; parent: by the measure it is an item of; issuer: none named
            add((s, PKG.unitSource, Literal(m.unit_source)))
    for ind in store.indicators(d.id):
        s = uri(ind.id)
        add((s, RDF.type, PKG.Indicator))
        add((s, RDFS.label, Literal(ind.name, lang="zh")))
        add((s, PKG.value, Literal(ind.value, datatype=XSD.decimal)))
        add((s, PKG.unit, Literal(ind.unit, lang="zh")))
        add((s, PKG.kind, Literal(ind.kind)))
        add((s, PKG.approximate, Literal(ind.approximate)))
        if ind.bound:  # "at least" | "at most"
            add((s, PKG.bound, Literal(ind.bound)))
        add((s, PKG.quote, Literal(ind.quote, lang="zh")))
        add((s, PKG.start, Literal(ind.start)))
        add((s, PKG.end, Literal(ind.end)))
        # a figure outside every measure (the year's summary, the targets paragraph) belongs to the document
        add((uri(ind.measure_id or d.id), PKG.hasIndicator, s))
    return g


def links_graph(store: SQLiteStore) -> dict[str, Graph]:
    """Measure → Regulation links as Web Annotations (evidence quote and offsets), per document."""
    doc_of = store.measure_document_ids()
    out: dict[str, Graph] = {}
    for link in store.links():
        doc_id = doc_of.get(link.measure_id)
        if doc_id is None:
            continue
        g = out.get(doc_id)
        if g is None:
            g = out[doc_id] = _bind(Graph())
        add = g.add
        ev = link.evidence
        measure, regulation = uri(link.measure_id), uri(link.regulation_id)
        add((measure, RELATION_PROPERTY[link.relation], regulation))
        key = f"{link.measure_id}|{link.regulation_id}|{ev.method}|{ev.start}|{ev.end}|{link.article_id or ''}"
        if link.relation != "implements":
            key += f"|{link.relation}"
        annotation = URIRef(f"{BASE}evidence/{hashlib.sha1(key.encode()).hexdigest()[:20]}")
        target, pos, quote = URIRef(f"{annotation}#target"), URIRef(f"{annotation}#position"), URIRef(f"{annotation}#quote")
        add((annotation, RDF.type, OA.Annotation))
        add((annotation, RDF.type, PKG.Evidence))
        add((annotation, OA.motivatedBy, OA.linking))
        add((annotation, PKG.measure, measure))
        add((annotation, OA.hasBody, regulation))
        add((annotation, PKG.method, Literal(ev.method)))
        add((annotation, PKG.relation, Literal(link.relation)))
        add((annotation, PKG.score, Literal(ev.score, datatype=XSD.decimal)))
        if ev.article:
            add((annotation, PKG.article, Literal(ev.article, lang="zh")))
        if link.article_id:
            add((annotation, PKG.articleResource, uri(link.article_id)))
            if link.relation == "implements":
                add((measure, PKG.implementsArticle, uri(link.article_id)))
        add((annotation, OA.hasTarget, target))
        add((target, OA.hasSource, uri(doc_id)))
        add((target, OA.hasSelector, pos))
        add((pos, RDF.type, OA.TextPositionSelector))
        add((pos, OA.start, Literal(ev.start)))
        add((pos, OA.end, Literal(ev.end)))
        add((target, OA.hasSelector, quote))
        add((quote, RDF.type, OA.TextQuoteSelector))
        add((quote, OA.exact, Literal(ev.quote, lang="zh")))
        add((annotation, PROV.wasDerivedFrom, uri(doc_id)))
    return out
