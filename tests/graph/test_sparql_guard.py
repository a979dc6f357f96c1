"""Issue 16: the SPARQL backends never reach out to the network and fail only with SparqlRefused / SparqlTimeout.

A listener on 127.0.0.1 records every connection it accepts; SERVICE, FROM, FROM NAMED and LOAD aimed at
it, in every form below, are refused on the embedded graph (rdflib) and on an Oxigraph server alike, and
the listener sees nothing. A grammar-driven Hypothesis run checks that nothing else escapes either.
"""

from __future__ import annotations

import functools
import importlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdflib import Dataset
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.sparql import Query

from policykg.api.kb import KnowledgeBase
from policykg.graph.sparql import (
    GRAPH_BASE,
    EmbeddedGraph,
    GraphBackend,
    GraphServerError,
    SparqlRefused,
    SparqlTimeout,
    run_limited,
)
from policykg.graph.sparql_server import SparqlEndpoint, SparqlServerGraph
from policykg.graph.store import SQLiteStore
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder, Listener


@pytest.fixture(scope="module")
def store(corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder) -> SQLiteStore:
    """The founding report and the regulations it cites (stand-in encoder), in an embedded store."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("guard"), encoder=hashing_encoder)
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb.store


def _start(server: str, data: Path) -> Any:
    """tests/servers.py's (or bench/servers.py's, where it moves) ``start_oxigraph`` / ``start_virtuoso``."""
    for name in ("bench.servers", "tests.servers"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        try:
            return getattr(module, f"start_{server}")(data)
        except FileNotFoundError as exc:  # virtuoso-t is a Debian package .ci/run installs
            pytest.skip(str(exc))
    raise RuntimeError("no servers module (bench/servers.py or tests/servers.py)")


@pytest.fixture(scope="module", params=[
    "embedded", pytest.param("oxigraph", marks=pytest.mark.slow), pytest.param("virtuoso", marks=pytest.mark.slow),
])
def backend(request: pytest.FixtureRequest, store: SQLiteStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GraphBackend]:
    """The embedded rdflib graph, or a SPARQL server (Oxigraph, Virtuoso) holding the same triples."""
    if request.param == "embedded":
        yield EmbeddedGraph(store)
        return
    server = _start(request.param, tmp_path_factory.mktemp(f"guard-{request.param}") / "data")
    try:
        base = f"http://127.0.0.1:{server.port}"
        endpoint = (
            SparqlEndpoint(f"{base}/query", f"{base}/update") if request.param == "oxigraph"
            else SparqlEndpoint(f"{base}/sparql", f"{base}/sparql-auth", auth="digest:dba:dba", batch=300)
        )
        graph = SparqlServerGraph(endpoint)
        assert graph.sync(store)["written"] > 0
        yield graph
    finally:
        server.stop()


# ---------------------------------------------------------------- every form refused, nothing fetched
SVC = "{L}/sparql"
REFUSED = [
    # SERVICE: cases, SILENT, prefixed / variable / escaped IRIs
    "SELECT * WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    "select * where { service <{L}/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SeRvIcE SILENT <{L}/sparql> { ?s ?p ?o } }",
    "PREFIX ex: <{L}/> SELECT * WHERE { SERVICE ex:sparql { ?s ?p ?o } }",
    "SELECT * WHERE { VALUES ?svc { <{L}/sparql> } SERVICE ?svc { ?s ?p ?o } }",
    "SELECT * WHERE { BIND(IRI('{L}/sparql') AS ?svc) SERVICE ?svc { ?s ?p ?o } }",
    "SELECT * WHERE { \\u0053ERVICE <{L}/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE { SERVICE <http\\u003A//127.0.0.1:{P}/sparql> { ?s ?p ?o } }",
    "SELECT * WHERE {\nSERVICE # a comment\n<{L}/sparql>\n{ ?s ?p ?o } }",
    "SELECT * WHERE { # a comment ended by a carriage return\r SERVICE <{L}/sparql> { ?s ?p ?o } \n }",
    # SERVICE nested in every kind of group
    "SELECT * WHERE { ?m a pkg:Measure OPTIONAL { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { { ?m a pkg:Measure } UNION { SERVICE <{L}/sparql> { ?s ?p ?o } } }",
    "SELECT * WHERE { ?m a pkg:Measure MINUS { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { { SELECT ?s WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } } LIMIT 1 } }",
    "SELECT * WHERE { ?m a pkg:Measure FILTER EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { ?m a pkg:Measure FILTER NOT EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { ?m a pkg:Measure BIND(EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } } AS ?x) }",
    "SELECT (EXISTS { SERVICE <{L}/sparql> { ?s ?p ?o } } AS ?x) WHERE { }",
    "SELECT ?m WHERE { ?m a pkg:Measure } GROUP BY ?m HAVING (EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } })",
    "SELECT ?m WHERE { ?m a pkg:Measure } ORDER BY (EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } })",
    "SELECT * WHERE { GRAPH ?g { SERVICE <{L}/sparql> { ?s ?p ?o } } }",
    "SELECT * WHERE { OPTIONAL { { SELECT * WHERE { { ?a ?b ?c } UNION { FILTER EXISTS { "
    "SERVICE <{L}/sparql> { ?s ?p ?o } } } } LIMIT 1 } } }",
    "SELECT * WHERE { SERVICE <{L}/sparql> { SERVICE <{L}/other> { ?s ?p ?o } } }",
    # SERVICE in the other query forms
    "ASK { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    "CONSTRUCT { ?s ?p ?o } WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    "DESCRIBE ?s WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    # FROM / FROM NAMED outside policykg's graphs
    "SELECT * FROM <{L}/data.ttl> WHERE { ?s ?p ?o }",
    "select * from named <{L}/data.ttl> where { graph ?g { ?s ?p ?o } }",
    "SELECT * FROM NAMED <{L}/data.ttl> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "PREFIX ex: <{L}/> SELECT * FROM ex:data WHERE { ?s ?p ?o }",
    "SELECT * FROM <https://policykg.org/graph/shared> FROM <{L}/data.ttl> WHERE { ?s ?p ?o }",
    "SELECT * FROM <https://policykg.org/graphs/shared> WHERE { ?s ?p ?o }",
    "ASK FROM <{L}/data.ttl> { ?s ?p ?o }",
    "CONSTRUCT { ?s ?p ?o } FROM <{L}/data.ttl> WHERE { ?s ?p ?o }",
    "DESCRIBE ?s FROM NAMED <{L}/data.ttl> WHERE { ?s ?p ?o }",
    # LOAD and the other updates (never a query)
    "LOAD <{L}/data.ttl>",
    "load silent <{L}/data.ttl> INTO GRAPH <urn:g>",
    "SELECT * WHERE { ?s ?p ?o } ; LOAD <{L}/data.ttl>",
    "LOAD <{L}/data.ttl> ; SELECT * WHERE { ?s ?p ?o }",
    "INSERT { GRAPH <urn:g> { ?s ?p ?o } } WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    "DELETE { ?s ?p ?o } USING <{L}/data.ttl> WHERE { ?s ?p ?o }",
    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "DELETE WHERE { ?s ?p ?o }",
    "DROP ALL",
    "CLEAR DEFAULT",
    "COPY DEFAULT TO <urn:g>",
    # extension functions (Virtuoso's bif: ones can fetch)
    "SELECT * WHERE { ?s ?p ?o FILTER(<{L}/f>(?o)) }",
    "PREFIX bif: <bif:> SELECT * WHERE { ?s ?p ?o FILTER(bif:http_get('{L}/x')) } LIMIT 1",
    # malformed
    "SELECT * WHERE { SERVICE <{L}/sparql> ",
    "",
]


def _fill(template: str, listener: Listener) -> str:
    return template.replace("{L}", listener.base).replace("{P}", str(listener.port))


@pytest.mark.parametrize("template", REFUSED)
def test_refused_and_nothing_fetched(backend: GraphBackend, listener: Listener, template: str) -> None:
    before = listener.connections(0)
    with pytest.raises(SparqlRefused) as refused:
        backend.query(_fill(template, listener), limit=10, timeout=5.0)
    message = str(refused.value)
    assert message and "\n" not in message
    assert listener.connections() == before, listener.seen


@pytest.mark.parametrize(("template", "reason"), [
    ("SELECT * WHERE { OPTIONAL { SERVICE <{L}/sparql> { ?s ?p ?o } } }", "SERVICE"),
    ("SELECT * FROM NAMED <{L}/x> WHERE { ?s ?p ?o }", "FROM NAMED"),
    ("SELECT * FROM <{L}/x> WHERE { ?s ?p ?o }", "FROM"),
    ("LOAD <{L}/x>", "read-only"),
    ("SELECT * WHERE { ?s ?p ?o FILTER(<{L}/f>(?o)) }", "function"),
])
def test_the_reason_is_one_line(backend: GraphBackend, listener: Listener, template: str, reason: str) -> None:
    with pytest.raises(SparqlRefused, match=reason):
        backend.query(_fill(template, listener), limit=10, timeout=5.0)


@pytest.mark.parametrize("template", [
    "DESCRIBE <{L}/thing>",
    "SELECT * WHERE { ?s ?p <{L}/thing> }",
    "ASK { <{L}/thing> ?p ?o }",
    "SELECT ?m WHERE { ?m a pkg:Measure FILTER(STR(?m) != '{L}/sparql') } LIMIT 3",
    "SELECT ?s WHERE { ?s rdfs:label ?t FILTER(CONTAINS(?t, 'SERVICE <{L}/sparql> {}')) }",
    # what rdflib reads as a string is the string the server reads (\u005C is a backslash in both)
    "SELECT * WHERE { BIND(\"x\\u005C\" AS ?x) SERVICE <{L}/sparql> { ?a ?b ?c } } #\" AS ?y) }",
])
def test_iris_of_the_listener_as_data_are_answered_without_fetching(backend: GraphBackend, listener: Listener, template: str) -> None:
    before = listener.connections(0)
    answer = backend.query(_fill(template, listener), limit=10, timeout=5.0)
    assert answer["type"] in ("select", "ask", "graph")
    assert listener.connections() == before, listener.seen


def test_from_policykg_graphs_on_a_server_only(backend: GraphBackend) -> None:
    query = f"SELECT (COUNT(*) AS ?n) FROM <{GRAPH_BASE}shared> WHERE {{ ?s ?p ?o }}"
    if isinstance(backend, EmbeddedGraph):
        with pytest.raises(SparqlRefused, match="FROM"):
            backend.query(query, limit=1, timeout=5.0)
        with pytest.raises(SparqlRefused, match="GRAPH"):
            backend.query("SELECT * WHERE { GRAPH ?g { ?s ?p ?o } }", limit=1, timeout=5.0)
        return
    assert int(backend.query(query, limit=1, timeout=5.0)["rows"][0]["n"]) > 0
    names = backend.query(f"SELECT DISTINCT ?g FROM NAMED <{GRAPH_BASE}shared> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}", limit=5, timeout=5.0)
    assert [r["g"] for r in names["rows"]] == [f"{GRAPH_BASE}shared"]


def test_the_listener_does_see_federation_when_an_operator_allows_it(backend: GraphBackend, listener: Listener) -> None:
    """The control: with allow_federation the same SERVICE query reaches the listener (so zero above means zero)."""
    federated = (
        EmbeddedGraph(backend.store, allow_federation=True) if isinstance(backend, EmbeddedGraph)
        else SparqlServerGraph(backend.endpoint, allow_federation=True) if isinstance(backend, SparqlServerGraph)
        else None
    )
    assert federated is not None
    before = listener.connections(0)
    try:
        federated.query(_fill("SELECT * WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }", listener), limit=10, timeout=10.0)
    except SparqlRefused as exc:  # the listener hangs up: no answer, but the request was made
        if "SECURITY" in str(exc):
            pytest.skip("this Virtuoso refuses SERVICE itself (its SPARQL user has no SPARQL_SINV grants)")
    assert listener.connections(0.3) > before
    assert b"/sparql" in listener.seen[-1]


# ---------------------------------------------------------------- rdflib's own network paths stay shut
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # rdflib's Dataset.query uses default_context
def test_rdflib_service_and_from_loading_are_blocked_even_past_the_guard(listener: Listener) -> None:
    """Evaluated directly by rdflib in an offline SPARQL worker (no guard), SERVICE and FROM cannot connect."""
    dataset = Dataset()  # rdflib loads FROM graphs it does not hold
    service = prepareQuery(_fill("SELECT * WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }", listener))
    loading = prepareQuery(_fill("SELECT * FROM <{L}/data.ttl> WHERE { ?s ?p ?o }", listener))
    before = listener.connections(0)

    def evaluate(prepared: Query) -> int:
        return len(list(dataset.query(prepared)))  # rows are made lazily: count them in the worker

    for prepared in (service, loading):
        with pytest.raises(SparqlRefused, match="network"):
            run_limited(functools.partial(evaluate, prepared), 5.0, offline=True)
    assert listener.connections() == before, listener.seen


# ---------------------------------------------------------------- what a server says, typed
class _Stub(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/slow":
            time.sleep(4)
        if self.path == "/bad":
            body, status = b"Parser error: unexpected token", 400
        elif self.path == "/internal":
            body, status = b"The custom function is not supported", 500
        elif self.path == "/garbled":
            body, status = b'{"head":{"vars":["s"]},"results":{"bindings":[Connection reset', 200
        else:
            body, status = b"Service Unavailable", 503
        self.send_response(status)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("path", "error", "match"), [
    ("/bad", SparqlRefused, "HTTP 400"),
    ("/internal", SparqlRefused, "HTTP 500"),
    ("/garbled", SparqlRefused, "cannot be read"),
    ("/down", GraphServerError, "HTTP 503"),
    ("/slow", SparqlTimeout, "stopped after 1 s"),
])
def test_server_answers_map_to_typed_errors(stub: str, path: str, error: type[Exception], match: str) -> None:
    started = time.monotonic()
    with pytest.raises(error, match=match):
        SparqlServerGraph(SparqlEndpoint(stub + path)).query("SELECT ?s WHERE { ?s ?p ?o }", limit=5, timeout=1.0)
    assert time.monotonic() - started < 3.5


def test_a_server_that_is_not_there_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(GraphServerError):
        SparqlServerGraph(SparqlEndpoint(f"http://127.0.0.1:{port}/query")).query("ASK { ?s ?p ?o }", limit=1, timeout=2.0)


# ---------------------------------------------------------------- grammar-driven: nothing but answers and typed refusals
def _kw(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.lower(), word.capitalize()])


_VARS = st.sampled_from(["?s", "?m", "?o", "?t"])
_PREDICATES = st.sampled_from(["a", "rdfs:label", "pkg:implements", "skos:prefLabel", "?p", "ex:rel"])
_OBJECTS = st.one_of(_VARS, st.sampled_from(["pkg:Measure", "eli:LegalResource", "'实验动物'@zh", "42", "<{L}/thing>", "ex:thing"]))
_TRIPLES = st.tuples(_VARS, _PREDICATES, _OBJECTS).map(" ".join)
_EXPRS = st.one_of(
    _VARS.map(lambda v: f"BOUND({v})"),
    st.tuples(_VARS, st.sampled_from(["'实验'", "'x'"])).map(lambda t: f"CONTAINS(STR({t[0]}), {t[1]})"),
    _VARS.map(lambda v: f"isIRI({v})"),
    _VARS.map(lambda v: f"xsd:integer({v}) > 3"),
    _VARS.map(lambda v: f"<{{L}}/f>({v})"),
)
_SERVICE_IRIS = st.sampled_from(["<{L}/sparql>", "ex:sparql", "?svc", "<http\\u003A//127.0.0.1:{P}/s>"])
_GRAPH_TERMS = st.sampled_from(["?g", f"<{GRAPH_BASE}shared>", "<{L}/g>"])


def _groups(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(_kw("OPTIONAL"), inner).map(lambda t: f"{t[0]} {{ {t[1]} }}"),
        st.tuples(inner, _kw("UNION"), inner).map(lambda t: f"{{ {t[0]} }} {t[1]} {{ {t[2]} }}"),
        st.tuples(_kw("MINUS"), inner).map(lambda t: f"{t[0]} {{ {t[1]} }}"),
        st.tuples(_kw("SERVICE"), st.sampled_from(["", "SILENT "]), _SERVICE_IRIS, inner).map(lambda t: f"{t[0]} {t[1]}{t[2]} {{ {t[3]} }}"),
        st.tuples(_kw("GRAPH"), _GRAPH_TERMS, inner).map(lambda t: f"{t[0]} {t[1]} {{ {t[2]} }}"),
        st.tuples(st.sampled_from(["FILTER EXISTS", "filter not exists"]), inner).map(lambda t: f"{t[0]} {{ {t[1]} }}"),
        _EXPRS.map(lambda e: f"FILTER({e})"),
        inner.map(lambda g: f"{{ SELECT * WHERE {{ {g} }} LIMIT 5 }}"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} . {t[1]}"),
    )


_PATTERNS = st.recursive(_TRIPLES, _groups, max_leaves=5)
_DATASETS = st.lists(
    st.tuples(st.sampled_from(["FROM", "from", "FROM NAMED"]), st.sampled_from([f"<{GRAPH_BASE}shared>", "<{L}/data.ttl>", "ex:data"]))
    .map(" ".join), max_size=2,
).map(" ".join)
_FORMS = st.one_of(
    st.tuples(_kw("SELECT"), st.sampled_from(["*", "?s", "DISTINCT ?m ?o"]), _DATASETS, _PATTERNS)
    .map(lambda t: f"{t[0]} {t[1]} {t[2]} WHERE {{ {t[3]} }} LIMIT 20"),
    st.tuples(_kw("ASK"), _DATASETS, _PATTERNS).map(lambda t: f"{t[0]} {t[1]} {{ {t[2]} }}"),
    st.tuples(_kw("CONSTRUCT"), _DATASETS, _PATTERNS).map(lambda t: f"{t[0]} {{ ?s ?p ?o }} {t[1]} WHERE {{ {t[2]} }} LIMIT 20"),
    st.tuples(_kw("DESCRIBE"), _PATTERNS).map(lambda t: f"{t[0]} ?s WHERE {{ {t[1]} }} LIMIT 5"),
    st.sampled_from(["LOAD <{L}/data.ttl>", "CLEAR ALL", "INSERT DATA { <urn:a> <urn:b> <urn:c> }"]),
)
_PROLOGUES = st.sampled_from(["PREFIX ex: <{L}/>\n", "prefix ex: <{L}/> ", "BASE <{L}/>\nPREFIX ex: <ns#>\n", ""])


@st.composite
def _queries(draw: st.DrawFn) -> str:
    text = draw(_PROLOGUES) + draw(_FORMS)
    if draw(st.integers(0, 7)) == 7:  # now and then a mangled one: a character dropped
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + text[i + 1:]
    return text


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(template=_queries())
def test_generated_queries_answer_or_are_refused(backend: GraphBackend, listener: Listener, template: str) -> None:
    query = _fill(template, listener)
    before = listener.connections(0)
    try:
        answer = backend.query(query, limit=20, timeout=2.0)
    except (SparqlRefused, SparqlTimeout) as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert answer["type"] in ("select", "ask", "graph")
        assert not re.search(r"\bSERVICE\b", query, re.IGNORECASE), "a SERVICE query was answered"
    assert listener.connections(0.01) == before, (query, listener.seen)
