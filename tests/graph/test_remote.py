"""The graph in a SPARQL server and the vectors in Milvus: incremental sync, and a server that goes away."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bench.servers import Servers, start_oxigraph, start_virtuoso
from policykg.api.cli import app as cli_app
from policykg.api.config import Config, GraphConfig, VectorsConfig
from policykg.api.errors import BackendUnavailable
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.graph.rdf import PREFIXES, build_rdf
from policykg.graph.sparql_server import GRAPH_BASE, SparqlServerGraph
from policykg.search.milvus import MilvusIndex
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder, assert_servers_agree


@pytest.fixture()
def served(tmp_path: Path, servers: Servers, hashing_encoder: HashingEncoder, corpus: Path) -> KnowledgeBase:
    kb = KnowledgeBase(servers.configure(tmp_path / "data"), encoder=hashing_encoder)
    assert isinstance(kb.components.vectors, MilvusIndex)
    _server(kb)
    assert kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv").ok
    return kb


def _server(kb: KnowledgeBase) -> SparqlServerGraph:
    graph = kb.components.graph
    assert isinstance(graph, SparqlServerGraph), graph
    return graph


def _graph_names(kb: KnowledgeBase) -> set[str]:
    answer = _server(kb).query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }", limit=100_000, timeout=60.0)
    assert not answer["truncated"]
    return {r["g"][len(GRAPH_BASE):] for r in answer["rows"]}


def test_named_graphs_per_document_and_incremental_sync(served: KnowledgeBase, corpus: Path) -> None:
    kb = served
    docs = {d.id for d in kb.documents()}
    names = _graph_names(kb)
    assert {f"doc/{d}" for d in docs} | {"shared"} <= names
    assert any(n.startswith("links/") for n in names)
    assert_servers_agree(kb)
    # nothing changed: nothing rewritten
    assert kb.sync() == {"graph": {"written": 0, "dropped": 0}, "vectors": {"documents": 0, "removed": 0, "vectors": 0, "sentences": 0}}
    # one more document: its graph and vectors, plus the shared graph / links it changes, not the others
    assert kb.ingest([corpus / "reports/gov-work/shenzhen-gwr-2020.txt"], manifest=corpus / "manifest.csv").ok
    state = kb.store.sync_state(_server(kb).target)
    assert len([n for n in state if n.startswith("doc/")]) == len(docs) + 1
    assert_servers_agree(kb)


def test_replacing_a_document_replaces_its_graph_and_vectors(tmp_path: Path, servers: Servers, hashing_encoder: HashingEncoder, corpus: Path) -> None:
    kb = KnowledgeBase(servers.configure(tmp_path / "data"), encoder=hashing_encoder)
    src = tmp_path / "report.txt"
    shutil.copy(corpus / FOUNDING, src)
    assert kb.ingest([src]).added
    old = kb.documents()[0].id
    src.write_text(src.read_text(encoding="utf-8").replace("现场检查40次", "现场检查45次"), encoding="utf-8")
    assert kb.ingest([src]).replaced
    new = kb.documents()[0].id
    assert old != new and f"doc/{old}" not in _graph_names(kb) and f"doc/{new}" in _graph_names(kb)
    assert isinstance(kb.components.vectors, MilvusIndex) and kb.components.vectors.ids_of(old) == []
    rows = kb.sparql("SELECT ?v WHERE { ?i rdfs:label '现场检查'@zh ; pkg:value ?v }")["rows"]
    assert [float(r["v"]) for r in rows] == [45.0]
    assert_servers_agree(kb)


def test_a_server_that_goes_away_loses_nothing(tmp_path: Path, servers: Servers, hashing_encoder: HashingEncoder, corpus: Path) -> None:
    """Graph server down: ingest stores the documents and says so in one line; search and reads go on;
    SPARQL says the server is unavailable; `policykg sync` later completes the server's copy."""
    data = tmp_path / "data"
    data.mkdir()
    graph = start_oxigraph(tmp_path / "ox")
    servers.configure(data)
    toml = (data / "policykg.toml").read_text()
    port = toml.split("127.0.0.1:")[1].split("/")[0]
    (data / "policykg.toml").write_text(toml.replace(f"127.0.0.1:{port}", f"127.0.0.1:{graph.port}"))
    kb = KnowledgeBase(data, encoder=hashing_encoder)
    assert kb.ingest([corpus / FOUNDING]).ok
    graph.stop()
    with pytest.raises(BackendUnavailable, match="policykg sync"):
        kb.ingest([corpus / FOUNDING_REGULATIONS[0]], manifest=corpus / "manifest.csv")
    assert len(kb.documents()) == 2  # stored all the same
    assert kb.search("实验动物", k=3)
    with pytest.raises(BackendUnavailable):
        kb.sparql("ASK { ?s ?p ?o }")
    client = TestClient(create_app(kb))
    assert client.get("/sparql", params={"query": "ASK { ?s ?p ?o }"}).status_code == 503
    assert client.get("/search", params={"q": "实验动物"}).status_code == 200
    restarted = start_oxigraph(tmp_path / "ox")  # same data directory, new port
    try:
        (data / "policykg.toml").write_text(toml.replace(f"127.0.0.1:{port}", f"127.0.0.1:{restarted.port}"))
        res = CliRunner().invoke(cli_app, ["sync", "--data", str(data)])
        assert res.exit_code == 0, res.output
        assert_servers_agree(KnowledgeBase(data, encoder=hashing_encoder))
    finally:
        restarted.stop()


def test_virtuoso_with_digest_auth_and_small_batches(tmp_path: Path, hashing_encoder: HashingEncoder, corpus: Path) -> None:
    """The documented Virtuoso setup: queries on /sparql, updates on /sparql-auth with HTTP Digest,
    INSERT DATA in batches of 300 triples; the answers equal the embedded store's."""
    try:
        server = start_virtuoso(tmp_path / "virtuoso")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    try:
        base = f"http://127.0.0.1:{server.port}"
        config = Config(graph=GraphConfig(url=f"{base}/sparql", update_url=f"{base}/sparql-auth", auth="digest:dba:dba", batch=300))
        kb = KnowledgeBase(tmp_path / "data", config=config, encoder=hashing_encoder)
        assert kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv").ok
        assert _server(kb).count() == len(build_rdf(kb.store))
        query = (
            "SELECT ?title WHERE { ?m pkg:implements ?r ; rdfs:label ?title . ?r skos:prefLabel ?n . "
            "FILTER(CONTAINS(?n, '实验动物')) }"
        )
        titles = sorted(r["title"] for r in kb.sparql(query)["rows"])
        embedded = build_rdf(kb.store).query(query, initNs=dict(PREFIXES))
        assert titles and titles == sorted(str(r[0]) for r in embedded)  # type: ignore[index]
        assert kb.sparql("ASK { ?m a pkg:Measure }") == {"type": "ask", "boolean": True}
        assert kb.sparql("CONSTRUCT { ?m a pkg:Measure } WHERE { ?m a pkg:Measure }")["type"] == "graph"
        # its Graph Store endpoint (standard ?graph=, Digest) takes one PUT per named graph instead
        put = Config(graph=GraphConfig(
            url=config.graph.url, update_url=config.graph.update_url, auth="digest:dba:dba", store_url=f"{base}/sparql-graph-crud-auth",
        ))
        again = KnowledgeBase(tmp_path / "data-put", config=put, encoder=hashing_encoder)
        assert again.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv").ok
        assert _server(again).count() == len(build_rdf(again.store))
        assert sorted(r["title"] for r in again.sparql(query)["rows"]) == titles
        wrong = Config(graph=GraphConfig(url=config.graph.url, update_url=config.graph.update_url, auth="digest:dba:wrong"))
        other = KnowledgeBase(tmp_path / "data2", config=wrong, encoder=hashing_encoder)
        with pytest.raises(BackendUnavailable, match="401"):
            other.ingest([corpus / FOUNDING])
    finally:
        server.stop()


def test_graph_store_protocol_sync_equals_insert_data(tmp_path: Path, hashing_encoder: HashingEncoder, corpus: Path) -> None:
    """With [graph] store_url, each named graph is replaced by one Graph Store PUT: the server ends up
    with the same graphs and triples as through INSERT DATA, and later ingests keep it in step."""
    files = [corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)]
    insert, put = start_oxigraph(tmp_path / "ox-insert"), start_oxigraph(tmp_path / "ox-put")
    try:
        kbs = []
        for server, store_url in ((insert, None), (put, f"http://127.0.0.1:{put.port}/store")):
            base = f"http://127.0.0.1:{server.port}"
            config = Config(graph=GraphConfig(url=f"{base}/query", update_url=f"{base}/update", store_url=store_url), vectors=VectorsConfig())
            kb = KnowledgeBase(tmp_path / f"data-{server.port}", config=config, encoder=hashing_encoder)
            assert kb.ingest(files, manifest=corpus / "manifest.csv").ok
            kbs.append(kb)
        a, b = kbs
        assert _graph_names(a) == _graph_names(b)
        dump = "CONSTRUCT { ?s ?p ?o } WHERE { GRAPH ?g { ?s ?p ?o } }"
        ga, gb = (set(_server(kb).query_result(dump).graph or ()) for kb in (a, b))
        assert ga == gb and len(gb) == len(build_rdf(b.store)) > 1000  # no blank nodes: triples compare as they are
        assert any("\n" in str(o) for _, _, o in gb)  # multi-line literals travel intact
        assert_servers_agree(b)
        src = tmp_path / "report.txt"
        shutil.copy(corpus / FOUNDING, src)
        assert b.ingest([src]).unchanged  # the same text under another path
        src.write_text(src.read_text(encoding="utf-8").replace("现场检查40次", "现场检查45次"), encoding="utf-8")
        old = {d.id for d in b.documents()}
        assert b.ingest([src]).added
        new = {d.id for d in b.documents()} - old
        assert len(new) == 1 and f"doc/{new.pop()}" in _graph_names(b)
        assert_servers_agree(b)
    finally:
        insert.stop()
        put.stop()
