"""The HTTP API under hostile use: schema fuzzing, SPARQL limits, uploads, auth, CORS, logs."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from policykg.api.errors import KnowledgeBaseError
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder

API_KEY = "reliability-key-0123456789"
DOC_TEXT_MARKER = "天津市科学技术局"  # occurs in the founding report's text


@pytest.fixture(scope="module")
def kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase(tmp_path_factory.mktemp("api-reliability"), encoder=HashingEncoder())
    files = [corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)]
    assert kb.ingest(files, manifest=corpus / "manifest.csv").ok
    yield kb
    kb.close()


@pytest.fixture(scope="module")
def app(kb: KnowledgeBase) -> FastAPI:
    return create_app(kb, api_key=API_KEY, max_upload_bytes=1024 * 1024)


@pytest.fixture()
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


# ------------------------------------------------------------------ schemathesis
EXAMPLES_PER_OPERATION = 100


@pytest.mark.slow
def test_schemathesis_finds_no_server_errors(app: FastAPI) -> None:
    """Every operation of the OpenAPI schema, fuzzed in-process (ASGI): no 5xx, whatever the input."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    calls = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers={"X-API-Key": API_KEY})  # uploads too, with the key
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.status_code} {response.text[:200]}")

        run()
    print(f"\nschemathesis: {calls} requests, {len(failures)} server errors")
    assert calls > 100
    assert not failures, failures[:10]


# ------------------------------------------------------------------ SPARQL
@pytest.mark.parametrize("update", [
    "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
    "DELETE WHERE { ?s ?p ?o }",
    "DROP ALL",
    "CLEAR DEFAULT",
    "LOAD <http://127.0.0.1:9/x.ttl>",
    "SELECT * WHERE { ?s ?p ?o } ; INSERT DATA { <urn:a> <urn:b> <urn:c> }",
])
def test_sparql_update_refused(client: TestClient, kb: KnowledgeBase, update: str) -> None:
    before = len(kb.rdf())
    assert client.get("/sparql", params={"query": update}).status_code == 400
    assert client.post("/sparql", json={"query": update}).status_code in (400, 422)
    with pytest.raises(KnowledgeBaseError):
        kb.sparql(update)
    assert len(kb.rdf()) == before


CROSS_JOIN = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"


def _sparql_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.is_alive() and "sparql" in t.name.lower())


def test_pathological_sparql_is_stopped_and_stops_burning_cpu(kb: KnowledgeBase) -> None:
    kb.rdf()  # built outside the timed part
    started = time.monotonic()
    with pytest.raises(KnowledgeBaseError, match="stopped after"):
        kb.sparql(CROSS_JOIN, timeout=1.0)
    assert time.monotonic() - started < 5
    time.sleep(0.5)  # the stopped query must not keep running in the background
    cpu = time.process_time()
    time.sleep(1.0)
    assert time.process_time() - cpu < 0.3, "a stopped SPARQL query is still burning CPU"
    assert _sparql_threads() == 0
    assert kb.sparql("SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }")["rows"]  # still answers


def test_pathological_sparql_over_http(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("policykg.api.http.routers.sparql.SPARQL_TIMEOUT", 1.0)
    started = time.monotonic()
    resp = client.get("/sparql", params={"query": CROSS_JOIN})
    assert resp.status_code == 400 and "stopped after" in resp.json()["detail"]
    assert time.monotonic() - started < 5


# ------------------------------------------------------------------ uploads and auth
def _upload(client: TestClient, name: str, data: bytes, ctype: str = "text/plain", key: str | None = API_KEY) -> object:
    headers = {"X-API-Key": key} if key is not None else {}
    return client.post("/documents", headers=headers, files={"file": (name, data, ctype)})


REPORT = "关于2023年法治政府建设情况的报告\n一、加强行政执法\n（一）推进严格规范公正文明执法。全面推行行政执法公示制度。\n".encode()


@pytest.mark.parametrize("name", [
    "../../../../etc/passwd", "..\\..\\windows\\win.ini", "/etc/cron.d/evil.txt", "a/../../b.txt", "....//....//x.md",
    "\x00evil.txt", "CON", "%2e%2e%2fescape.txt", "~root/.ssh/authorized_keys", "报告\n伪造日志行.txt",
])
def test_upload_path_traversal_names(client: TestClient, kb: KnowledgeBase, name: str) -> None:
    resp = _upload(client, name, REPORT)
    assert resp.status_code in (201, 400, 422), resp.text  # type: ignore[attr-defined]
    if resp.status_code == 201:  # type: ignore[attr-defined]
        fname = resp.json()["filename"]  # type: ignore[attr-defined]
        assert "/" not in fname and "\\" not in fname and ".." not in fname and "\n" not in fname and "\x00" not in fname
        for d in kb.documents():
            assert "/etc/" not in d.path and "authorized_keys" not in d.path


def test_upload_oversize_refused(client: TestClient, kb: KnowledgeBase) -> None:
    before = kb.stats()
    big = b"x" * (2 * 1024 * 1024)
    assert _upload(client, "big.txt", big).status_code == 413  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        yield boundary
        for _ in range(64):
            yield b"y" * 65536
        yield b"\r\n--b--\r\n"

    resp = client.post(
        "/documents", headers={"X-API-Key": API_KEY, "Content-Type": "multipart/form-data; boundary=b"}, content=chunks(),
    )
    assert resp.status_code in (413, 422), resp.text
    assert kb.stats() == before


@pytest.mark.parametrize(("name", "data", "ctype"), [
    ("x.exe", b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 100, "application/octet-stream"),
    ("x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "image/png"),
    ("x.zip", b"PK\x03\x04" + b"\0" * 100, "application/zip"),
    ("x.txt", b"\xff\xfe\x00\x00garbage\x00\x00", "text/plain"),
    ("x.docx", b"PK\x05\x06" + b"\0" * 18, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
])
def test_upload_wrong_content_refused(client: TestClient, name: str, data: bytes, ctype: str) -> None:
    assert _upload(client, name, data, ctype).status_code in (415, 422)  # type: ignore[attr-defined]


def test_upload_not_multipart_refused(client: TestClient) -> None:
    resp = client.post("/documents", headers={"X-API-Key": API_KEY, "Content-Type": "application/json"}, content=b"{}")
    assert resp.status_code == 415
    resp = client.post("/documents", headers={"X-API-Key": API_KEY, "Content-Type": "text/plain"}, content=REPORT)
    assert resp.status_code == 415


def test_writes_need_the_api_key(client: TestClient, kb: KnowledgeBase) -> None:
    before = kb.stats()
    assert _upload(client, "r.txt", REPORT, key=None).status_code == 401  # type: ignore[attr-defined]
    assert _upload(client, "r.txt", REPORT, key="wrong").status_code == 403  # type: ignore[attr-defined]
    assert _upload(client, "r.txt", REPORT, key=API_KEY.upper()).status_code == 403  # type: ignore[attr-defined]
    assert kb.stats() == before
    with TestClient(create_app(kb)) as open_client:  # no key configured: uploads are off
        assert _upload(open_client, "r.txt", REPORT).status_code == 403  # type: ignore[attr-defined]
    for method in ("put", "delete", "patch"):
        assert getattr(client, method)("/documents").status_code == 405


def test_cors_closed_by_default(client: TestClient) -> None:
    resp = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in resp.headers
    pre = client.options(
        "/documents", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "X-API-Key"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_no_document_text_or_keys_in_logs(client: TestClient, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture) -> None:
    secret_text = "绝密测试段落甲乙丙丁戊己庚辛"
    body = REPORT + f"（二）{secret_text}。\n".encode()
    with caplog.at_level(logging.DEBUG):
        _upload(client, "logcheck.txt", body)
        _upload(client, "logcheck.txt", body, key="wrong-key-abcdef")
        client.get("/search", params={"q": secret_text})
        client.get("/sparql", params={"query": f'SELECT * WHERE {{ ?s ?p "{secret_text}" }}'})
        client.get("/sparql", params={"query": f"SELECT * WHERE {{ {secret_text} }}"})  # a syntax error
        client.get("/search", params={"q": secret_text, "k": "not-a-number"})
        doc = kb.documents()[0].id
        client.get(f"/documents/{doc}")
    text = "\n".join(r.getMessage() + (str(r.exc_info) if r.exc_info else "") for r in caplog.records)
    for leak in (secret_text, API_KEY, "wrong-key-abcdef", DOC_TEXT_MARKER):
        assert leak not in text, f"{leak!r} appears in the logs"
