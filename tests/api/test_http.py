"""The HTTP API: every endpoint, its JSON shapes, and each error status."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policykg.api.cli import app as cli_app
from policykg.api.http import create_app
from policykg.api.http.uploads import safe_filename
from policykg.api.kb import KnowledgeBase
from tests.api.conftest import API_KEY

pytestmark = pytest.mark.slow

REG = "实验动物管理条例"
REPORT_TEXT = (
    "天津市某区科技局2022年工作总结\n\n一、主要工作\n"
    "1.推动科技成果转化。区科技局落实《中华人民共和国促进科技成果转化法》，组织成果对接活动12场。\n"
)


@pytest.fixture(scope="module")
def client(api_kb: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(api_kb)) as c:
        yield c


def _upload_client(kb: KnowledgeBase, **kwargs: object) -> TestClient:
    return TestClient(create_app(kb, api_key=API_KEY, **kwargs))  # type: ignore[arg-type]


def _file(name: str, data: bytes, content_type: str = "application/octet-stream") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, content_type)}


# ---------------------------------------------------------------- health, docs, page
def test_health(client: TestClient, backend: str) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["documents"] == 4 and body["uploads"] is False
    if backend == "servers":
        assert body["graph"].startswith("http://127.0.0.1:") and body["vectors"].startswith("http://127.0.0.1:")
    else:
        assert (body["graph"], body["vectors"]) == ("embedded", "faiss")


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/search", "/timeline", "/regulations", "/regulations/{reg_id}", "/regulations/{reg_id}/measures",
              "/measures/{measure_id}", "/units", "/units/{unit_id}", "/documents", "/documents/{doc_id}", "/graph",
              "/graph/overview", "/graph/overview/edge", "/regulations/{reg_id}/coverage", "/sparql", "/health"):
        assert p in paths, p
    assert set(paths["/sparql"]) == {"get", "post"} and set(paths["/documents"]) == {"get", "post"}
    assert set(paths["/documents/{doc_id}"]) == {"get", "delete"}
    assert "multipart/form-data" in paths["/documents"]["post"]["requestBody"]["content"]
    assert client.get("/docs").status_code == 200


def test_page_and_vendored_library(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "/static/vendor/cytoscape.min.js" in r.text and "//cdn" not in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer" and r.headers["x-content-type-options"] == "nosniff"
    for api in (client.get("/health"), client.get("/no-such-path"), client.get("/search", params={"q": ""})):
        assert api.headers["x-content-type-options"] == "nosniff" and "content-security-policy" not in api.headers
    assert "content-security-policy" in client.get("/static/app.js").headers
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200
    assert client.get("/static/../kb.py").status_code == 404


# ---------------------------------------------------------------- search and timeline
def test_search_hits_carry_terms_and_spans(client: TestClient) -> None:
    r = client.get("/search", params={"q": "行政执法 普法宣传", "k": 5})
    assert r.status_code == 200
    hits = r.json()
    assert 0 < len(hits) <= 5
    h = hits[0]
    assert set(h) >= {"doc_id", "title", "issuer", "year", "doc_type", "section", "article", "text", "start", "end", "score", "passage_id", "path", "terms"}
    assert any(t in h["text"] for t in h["terms"])
    doc = client.get(f"/documents/{h['doc_id']}").json()
    assert doc["text"][h["start"]: h["end"]].strip()[:10] == h["text"].strip()[:10]


def test_search_filters(client: TestClient) -> None:
    regs = client.get("/search", params={"q": "实验动物 许可", "type": "regulation"}).json()
    assert regs and all(h["doc_type"] == "regulation" for h in regs)
    year = client.get("/search", params={"q": "行政执法", "year": 2023, "type": "report"}).json()
    assert year and all(h["year"] == 2023 for h in year)
    assert client.get("/search", params={"q": "行政执法", "year": 1999}).json() == []
    ranged = client.get("/search", params={"q": "行政执法", "from": 2020, "to": 2024, "mode": "bm25"}).json()
    assert ranged and all(h["year"] in range(2020, 2025) for h in ranged)
    grouped = client.get("/search", params={"q": "实验动物", "group": True, "k": 10}).json()
    assert len({h["doc_id"] for h in grouped}) == len(grouped)
    reg = client.get("/search", params={"q": "普法", "regulation": REG}).json()
    assert reg is not None and client.get("/search", params={"q": "普法", "issuer": "天津"}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "执法", "k": 0},
        {"q": "执法", "k": 1000},
        {"q": "执法", "type": "law"},
        {"q": "执法", "mode": "magic"},
        {"q": "执法", "year": "twenty"},
        {"q": "执法", "year": 2023, "from": 2020},
        {"q": "执法", "from": 2024, "to": 2020},
        {"q": "执法", "regulation": "没有这部法规"},
        {"q": "x" * 501},
    ],
)
def test_search_bad_parameters_are_422(client: TestClient, params: dict[str, object]) -> None:
    r = client.get("/search", params=params)  # type: ignore[arg-type]
    assert r.status_code == 422, r.text
    assert "detail" in r.json()


def test_timeline(client: TestClient) -> None:
    r = client.get("/timeline", params={"q": "行政执法", "per_year": 2})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == "行政执法"
    assert [y["year"] for y in body["years"]] == [2023]
    y = body["years"][0]
    assert 1 <= len(y["hits"]) <= 2 and y["best"] == max(h["score"] for h in y["hits"])
    assert client.get("/timeline").status_code == 422
    assert client.get("/timeline", params={"q": "x", "per_year": 0}).status_code == 422
    # a topic the report never touches: its year is left out, or listed with no hits and best null
    assert client.get("/timeline", params={"q": "远洋渔业捕捞配额"}).json()["years"] == []
    empty = client.get("/timeline", params={"q": "远洋渔业捕捞配额", "keep_empty": True}).json()["years"]
    assert empty == [{"year": 2023, "best": None, "hits": []}]


# ---------------------------------------------------------------- regulations, measures, units
def test_regulations(client: TestClient) -> None:
    regs = client.get("/regulations").json()
    by_name = {r["name"]: r for r in regs}
    assert by_name[REG]["articles"] > 0 and by_name[REG]["measures"] >= 2
    one = client.get(f"/regulations/{REG}").json()
    assert one["id"] == by_name[REG]["id"] and one["articles"][0]["label"].startswith("第")
    assert client.get(f"/regulations/{one['id']}").json()["name"] == REG
    assert client.get("/regulations/科学技术进步法").json()["name"] == "中华人民共和国科学技术进步法"  # by key
    r = client.get("/regulations/没有这部法规")
    assert r.status_code == 404 and "没有这部法规" in r.json()["detail"]


def test_regulation_measures_with_evidence(client: TestClient) -> None:
    body = client.get(f"/regulations/{REG}/measures").json()
    assert body["regulation"]["name"] == REG
    titles = {m["title"] for m in body["measures"]}
    assert {"着力加强公正监管", "依法履行行政执法职责"} <= titles and "提升行政执法满意度" not in titles
    studied = client.get(f"/regulations/{REG}/measures", params={"relation": "studies"}).json()["measures"]
    assert [m["title"] for m in studied] == ["提升行政执法满意度"] and studied[0]["relations"] == ["studies"]
    every = client.get(f"/regulations/{REG}/measures", params={"relation": ["implements", "studies"]}).json()["measures"]
    assert {m["title"] for m in every} == titles | {"提升行政执法满意度"}
    assert client.get(f"/regulations/{REG}/measures", params={"relation": "cites"}).status_code == 422
    m = body["measures"][0]
    assert m["units"] and m["document"]["id"]
    text = client.get(f"/documents/{m['document']['id']}").json()["text"]
    for e in m["evidence"]:
        assert e["method"] in ("citation", "alias", "topic", "semantic")
        assert text[e["start"]: e["end"]] == e["quote"]
    cited = client.get(f"/regulations/{REG}/measures", params={"method": "citation", "relation": "studies"}).json()["measures"]
    assert cited and all(e["method"] == "citation" for x in cited for e in x["evidence"])
    assert client.get(f"/regulations/{REG}/measures", params={"year": 2023}).json()["measures"]
    assert client.get(f"/regulations/{REG}/measures", params={"year": 2001}).json()["measures"] == []
    assert client.get(f"/regulations/{REG}/measures", params={"method": "guess"}).status_code == 422
    assert client.get("/regulations/没有这部法规/measures").status_code == 404


def test_measure(client: TestClient) -> None:
    mid = client.get(f"/regulations/{REG}/measures").json()["measures"][0]["id"]
    m = client.get(f"/measures/{mid}").json()
    assert m["id"] == mid and any(link["regulation"]["name"] == REG for link in m["links"])
    assert isinstance(m["indicators"], list)
    assert client.get("/measures/measure:000000000000").status_code == 404


def test_units(client: TestClient) -> None:
    units = client.get("/units").json()
    busy = max(units, key=lambda u: u["measures"])
    assert busy["measures"] > 0
    one = client.get(f"/units/{busy['name']}").json()
    assert one["id"] == busy["id"] and len(one["measures"]) == busy["measures"]
    assert client.get(f"/units/{busy['id']}").status_code == 200
    assert client.get("/units/不存在的单位").status_code == 404


# ---------------------------------------------------------------- documents
def test_documents(client: TestClient) -> None:
    docs = client.get("/documents").json()
    assert len(docs) == 4 and {d["doc_type"] for d in docs} == {"report", "regulation"}
    report = next(d for d in docs if d["doc_type"] == "report")
    full = client.get(f"/documents/{report['id']}").json()
    assert full["title"] == report["title"] and len(full["text"]) == full["length"] == report["length"]
    prefix = report["id"][:10]  # "doc:" and a unique start
    assert client.get(f"/documents/{prefix}").json()["id"] == report["id"]
    assert client.get("/documents/doc:nope").status_code == 404


# ---------------------------------------------------------------- graph
def test_graph_whole(client: TestClient) -> None:
    g = client.get("/graph").json()
    types = {n["type"] for n in g["nodes"]}
    assert types == {"unit", "measure", "regulation"} and not g["truncated"]
    ids = {n["id"] for n in g["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in g["edges"])
    relations = {e["relation"] for e in g["edges"]}
    assert {"responsible_for", "implements"} <= relations
    impl = next(e for e in g["edges"] if e["relation"] == "implements")
    assert impl["quote"] and impl["method"]
    small = client.get("/graph", params={"max_nodes": 6}).json()
    assert small["truncated"] and 0 < len(small["nodes"]) <= 6 and small["edges"]


def test_graph_center_and_filters(client: TestClient) -> None:
    reg = client.get(f"/regulations/{REG}").json()
    around = client.get("/graph", params={"center": REG, "depth": 1}).json()
    assert around["center"] == reg["id"]
    assert {n["type"] for n in around["nodes"]} == {"regulation", "measure"}
    deeper = client.get("/graph", params={"center": reg["id"], "depth": 2}).json()
    assert len(deeper["nodes"]) > len(around["nodes"])
    by_reg = client.get("/graph", params={"regulation": REG}).json()
    measures = {n["id"] for n in by_reg["nodes"] if n["type"] == "measure"}
    every = {"relation": ["implements", "drafts", "revises", "studies"]}  # the picture draws every relation, labelled
    assert measures == {m["id"] for m in client.get(f"/regulations/{REG}/measures", params=every).json()["measures"]}
    assert {e["relation"] for e in by_reg["edges"]} >= {"implements", "studies"}
    unit = max(client.get("/units").json(), key=lambda u: u["measures"])
    by_unit = client.get("/graph", params={"unit": unit["name"], "year": 2023}).json()
    assert any(n["id"] == unit["id"] for n in by_unit["nodes"])
    assert client.get("/graph", params={"year": 1999}).json()["nodes"] == []
    assert client.get("/graph", params={"center": "nothing-here"}).status_code == 404
    assert client.get("/graph", params={"unit": "不存在的单位"}).status_code == 404
    assert client.get("/graph", params={"depth": 0, "center": REG}).status_code == 422


# ---------------------------------------------------------------- sparql
SELECT = "SELECT ?name WHERE { ?r a pkg:Regulation ; skos:prefLabel ?name }"


def test_sparql_get_and_post(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT ?s ?p ?o WHERE { ?s ?p ?o }", "limit": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "select" and len(body["rows"]) == 3 and body["truncated"] is True
    r = client.post("/sparql", json={"query": "ASK { ?s ?p ?o }"})
    assert r.status_code == 200 and r.json() == {"type": "ask", "boolean": True}
    r = client.post("/sparql", json={"query": "CONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o } LIMIT 2"})
    assert r.status_code == 200 and r.json()["type"] == "graph"


@pytest.mark.parametrize(
    "query",
    [
        "DELETE WHERE { ?s ?p ?o }",
        "INSERT DATA { <urn:a> <urn:b> <urn:c> }",
        "DROP ALL",
        "SELECT ?s WHERE { ?s ",
    ],
)
def test_sparql_updates_and_errors_are_400(client: TestClient, query: str) -> None:
    assert client.get("/sparql", params={"query": query}).status_code == 400
    r = client.post("/sparql", json={"query": query})
    assert r.status_code == 400 and "detail" in r.json()


def test_sparql_bad_parameters_are_422(client: TestClient) -> None:
    assert client.get("/sparql").status_code == 422
    assert client.get("/sparql", params={"query": "ASK {}", "limit": 0}).status_code == 422
    assert client.get("/sparql", params={"query": "ASK {}", "limit": 10_001}).status_code == 422
    assert client.post("/sparql", json={}).status_code == 422
    assert client.post("/sparql", content=b"not json", headers={"content-type": "application/json"}).status_code == 422


# ---------------------------------------------------------------- uploads
def test_upload_disabled_without_key(client: TestClient) -> None:
    r = client.post("/documents", files=_file("a.txt", REPORT_TEXT.encode()), headers={"X-API-Key": "anything"})
    assert r.status_code == 403 and "disabled" in r.json()["detail"]


def test_upload_needs_the_right_key(upload_kb: KnowledgeBase) -> None:
    with _upload_client(upload_kb) as c:
        r = c.post("/documents", files=_file("a.txt", REPORT_TEXT.encode()))
        assert r.status_code == 401
        r = c.post("/documents", files=_file("a.txt", REPORT_TEXT.encode()), headers={"X-API-Key": API_KEY + "x"})
        assert r.status_code == 403
        assert API_KEY not in r.text
    assert upload_kb.documents() == []


def test_upload_ingests_and_sanitises_the_name(upload_kb: KnowledgeBase) -> None:
    with _upload_client(upload_kb) as c:
        r = c.post(
            "/documents",
            files=_file("../../etc/passwd 总结.txt", REPORT_TEXT.encode("gb18030"), "text/plain"),
            data={"doc_type": "report", "year": "2022", "issuer": "测试区科技局", "title": "测试报告"},
            headers={"X-API-Key": API_KEY},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["ok"] and body["detected_type"] == "text"
        assert body["filename"] == "passwd_总结.txt" and "/" not in body["filename"]
        assert body["added"] == [body["filename"]]
        (doc,) = body["documents"]
        assert doc["title"] == "测试报告" and doc["year"] == 2022 and doc["issuer"] == "测试区科技局"
        assert c.get(f"/documents/{doc['id']}").json()["text"].startswith("天津市")
        assert c.get("/search", params={"q": "科技成果转化"}).json()[0]["doc_id"] == doc["id"]
        again = c.post("/documents", files=_file("again.txt", REPORT_TEXT.encode("gb18030")), headers={"X-API-Key": API_KEY})
        assert again.status_code == 201 and again.json()["unchanged"] == ["again.txt"]


def test_upload_size_limit_is_413(upload_kb: KnowledgeBase) -> None:
    big = ("一" * 2000).encode()
    with _upload_client(upload_kb, max_upload_bytes=1000) as c:
        r = c.post("/documents", files=_file("big.txt", big), headers={"X-API-Key": API_KEY})
        assert r.status_code == 413  # by Content-Length
        boundary = "pkgboundary"
        body = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\n"
            "Content-Type: text/plain\r\n\r\n"
        ).encode() + big + f"\r\n--{boundary}--\r\n".encode()

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for i in range(0, len(body), 512):
                yield body[i: i + 512]

        r = c.post("/documents", content=chunks(), headers={"X-API-Key": API_KEY, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 413
    assert upload_kb.documents() == []


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("report.txt", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4),  # a binary named .txt
        ("report.pdf", b"\xff\xfe\xfa\xfb not really a pdf \x00\x01"),
        ("report.docx", b"PK\x03\x04 broken zip"),
        ("empty.txt", b""),
    ],
)
def test_upload_type_checked_by_content_is_415(upload_kb: KnowledgeBase, name: str, data: bytes) -> None:
    with _upload_client(upload_kb) as c:
        r = c.post("/documents", files=_file(name, data), headers={"X-API-Key": API_KEY})
        assert r.status_code == 415, r.text


def test_upload_zip_that_is_not_docx_is_415(upload_kb: KnowledgeBase) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with _upload_client(upload_kb) as c:
        r = c.post("/documents", files=_file("x.docx", buf.getvalue()), headers={"X-API-Key": API_KEY})
        assert r.status_code == 415
        r = c.post("/documents", content=b"just text", headers={"X-API-Key": API_KEY, "Content-Type": "text/plain"})
        assert r.status_code == 415


def test_upload_bad_fields_are_422(upload_kb: KnowledgeBase) -> None:
    with _upload_client(upload_kb) as c:
        headers = {"X-API-Key": API_KEY}
        assert c.post("/documents", files=_file("a.txt", b"x"), data={"doc_type": "memo"}, headers=headers).status_code == 422
        assert c.post("/documents", files=_file("a.txt", b"x"), data={"year": "1850"}, headers=headers).status_code == 422
        assert c.post("/documents", data={"title": "no file"}, files={"other": ("a.txt", b"x", "text/plain")}, headers=headers).status_code == 422


def test_safe_filename() -> None:
    assert safe_filename("../../a/b/c.txt", "text") == "c.txt"
    assert safe_filename("..\\..\\win.md", "text") == "win.md"
    assert safe_filename("x.exe", "pdf") == "x.pdf"
    assert safe_filename("..", "text") == "upload.txt"
    assert safe_filename("报告 2023;rm -rf.txt", "text") == "报告_2023_rm_-rf.txt"
    assert safe_filename("\x00\n.html", "html") == "upload.html"


# ---------------------------------------------------------------- CORS
def test_cors_closed_by_default_and_opt_in(api_kb: KnowledgeBase, client: TestClient) -> None:
    pre = {"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    r = client.options("/health", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "http://evil.example"}).headers
    with TestClient(create_app(api_kb, cors_origins=["http://app.example"])) as c:
        r = c.get("/health", headers={"Origin": "http://app.example"})
        assert r.headers["access-control-allow-origin"] == "http://app.example"
        assert "access-control-allow-origin" not in c.get("/health", headers={"Origin": "http://evil.example"}).headers


# ---------------------------------------------------------------- CLI: viz, serve
def test_viz_writes_one_self_contained_file(api_kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "graph.html"
    result = CliRunner().invoke(cli_app, ["viz", "--out", str(out), "--regulation", REG, "--data", str(api_kb.data_dir)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page  # nothing fetched
    assert "cytoscape" in page and REG in page and page.count("</script>") == 3
    data = page.split('<script id="graph-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    view = json.loads(data)
    assert {n["type"] for n in view["nodes"]} == {"regulation", "measure", "unit"}
    bad = CliRunner().invoke(cli_app, ["viz", "--out", str(out), "--unit", "不存在的单位", "--data", str(api_kb.data_dir)])
    assert bad.exit_code == 1


def test_serve_help() -> None:
    result = CliRunner().invoke(cli_app, ["serve", "--help"])
    assert result.exit_code == 0
    for opt in ("--host", "--port", "--data", "--api-key-env"):
        assert opt in result.output
