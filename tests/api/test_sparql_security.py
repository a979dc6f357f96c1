"""Issue 16 through the ways in: /sparql (GET and POST) and ``policykg sparql`` refuse SERVICE, LOAD and
foreign FROM / FROM NAMED with a 4xx (exit code 1 for the CLI) and a one-line reason, on the embedded and
the servers configuration alike, and nothing connects to the listener; SPARQL strings from a grammar never
get a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from policykg.api.cli import app as cli_app
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from tests.conftest import Listener
from tests.graph.test_sparql_guard import REFUSED, _fill, _queries

# the HTTP forms: one of each kind of refusal (every form is tried at the backend level in test_sparql_guard)
HTTP_REFUSED = [
    "SELECT * WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } }",
    "select * where { service silent <{L}/sparql> { ?s ?p ?o } }",
    "PREFIX ex: <{L}/> SELECT * WHERE { SERVICE ex:sparql { ?s ?p ?o } }",
    "SELECT * WHERE { ?m a pkg:Measure OPTIONAL { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { { ?m a pkg:Measure } UNION { SERVICE <{L}/sparql> { ?s ?p ?o } } }",
    "SELECT * WHERE { { SELECT ?s WHERE { SERVICE <{L}/sparql> { ?s ?p ?o } } LIMIT 1 } }",
    "SELECT * WHERE { ?m a pkg:Measure FILTER EXISTS { SERVICE <{L}/sparql> { ?m ?p ?o } } }",
    "SELECT * WHERE { # a comment ended by a carriage return\r SERVICE <{L}/sparql> { ?s ?p ?o } \n }",
    "SELECT * FROM <{L}/data.ttl> WHERE { ?s ?p ?o }",
    "SELECT * FROM NAMED <{L}/data.ttl> WHERE { GRAPH ?g { ?s ?p ?o } }",
    "LOAD <{L}/data.ttl>",
    "SELECT * WHERE { ?s ?p ?o } ; LOAD <{L}/data.ttl>",
]
assert set(HTTP_REFUSED) - set(REFUSED) == {"select * where { service silent <{L}/sparql> { ?s ?p ?o } }"}


@pytest.fixture(scope="module")
def client(founding_kb: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(founding_kb)) as c:
        yield c


@pytest.mark.parametrize("template", HTTP_REFUSED)
def test_http_refuses_with_400_and_fetches_nothing(client: TestClient, listener: Listener, template: str) -> None:
    query = _fill(template, listener)
    before = listener.connections(0)
    for r in (client.get("/sparql", params={"query": query}), client.post("/sparql", json={"query": query})):
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail
    assert listener.connections() == before, listener.seen


@pytest.mark.parametrize("template", [HTTP_REFUSED[0], HTTP_REFUSED[8], HTTP_REFUSED[10]])
def test_cli_refuses_with_one_line_and_fetches_nothing(founding_kb: KnowledgeBase, listener: Listener, template: str) -> None:
    before = listener.connections(0)
    result = CliRunner().invoke(cli_app, ["sparql", _fill(template, listener), "--data", str(founding_kb.data_dir)])
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "Traceback" not in result.output
    assert listener.connections() == before, listener.seen


def test_a_query_of_policykg_data_is_still_answered(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT (COUNT(?m) AS ?n) WHERE { ?m a pkg:Measure }"})
    assert r.status_code == 200 and int(r.json()["rows"][0]["n"]) > 10


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(template=_queries())
def test_generated_queries_never_get_a_5xx(client: TestClient, listener: Listener, template: str) -> None:
    query = _fill(template, listener)
    before = listener.connections(0)
    r = client.post("/sparql", json={"query": query, "limit": 20})
    assert r.status_code in (200, 400, 422), (query, r.status_code, r.text)
    assert listener.connections(0.01) == before, (query, listener.seen)
