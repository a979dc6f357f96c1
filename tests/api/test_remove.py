"""Removing documents: everything that came from one goes, in one transaction, on both configurations.

One knowledge base per configuration (the founding report and the three regulations it cites, by the
manifest, stand-in encoder), built here so removals do not disturb the shared fixtures. The tests
remove different documents and put back what the next one needs; the founding report goes last.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bench.servers import BIN, Server, Servers, _start, start_oxigraph
from policykg.api.cli import app as cli_app
from policykg.api.errors import BackendUnavailable, KnowledgeBaseError, NotFound
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from policykg.graph.rdf import uri
from policykg.graph.sparql_server import GRAPH_BASE, SparqlServerGraph
from policykg.search.milvus import MilvusIndex
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder, assert_servers_agree

API_KEY = "remove-key-0123456789"
LAB = "实验动物管理条例"
LAB_FILE = FOUNDING_REGULATIONS[0]
GENETIC_FILE = FOUNDING_REGULATIONS[1]
SCIENCE_FILE = FOUNDING_REGULATIONS[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def kb(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder, backend: str,
    data_dir_for: Callable[[Path], Path],
) -> Iterator[KnowledgeBase]:
    kb = KnowledgeBase(data_dir_for(tmp_path_factory.mktemp(f"remove-{backend}")), encoder=hashing_encoder)
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok and len(report.added) == 4, report.failed
    yield kb
    kb.close()


def _doc_id(kb: KnowledgeBase, display_path: str) -> str:
    return next(d.id for d in kb.documents() if d.path == display_path)


def _ingest_again(kb: KnowledgeBase, corpus: Path, rel: str) -> None:
    """Re-ingest a removed file (a deliberate act): it comes back and its tombstone is cleared."""
    report = kb.ingest([corpus / rel], manifest=corpus / "manifest.csv")
    assert report.added == [str(corpus / rel)] and report.readded == [str(corpus / rel)], report
    assert rel not in {t.path for t in kb.removed_documents()}
    assert rel in {d.path for d in kb.documents()}


def _server_holds(kb: KnowledgeBase, doc_id: str) -> bool:
    """Whether the configured servers hold anything of ``doc_id`` (False on the embedded configuration)."""
    held = False
    vectors, graph = kb.components.syncers.get("vectors"), kb.components.syncers.get("graph")
    if isinstance(vectors, MilvusIndex):
        held |= bool(vectors.ids_of(doc_id)) or bool(vectors.sentence_passages_of(doc_id))
    if isinstance(graph, SparqlServerGraph):
        names = graph.query("SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }", limit=100_000, timeout=60.0)["rows"]
        held |= f"{GRAPH_BASE}doc/{doc_id}" in {r["g"] for r in names}
        held |= graph.query(f"ASK {{ <{uri(doc_id)}> ?p ?o }}", limit=1, timeout=60.0)["boolean"]
    return held


def test_removing_a_regulation_held_in_full(kb: KnowledgeBase, corpus: Path) -> None:
    """Its articles and the links its text supported go; a report still cites it, so it stays as cited-only."""
    reg_doc = _doc_id(kb, LAB_FILE)
    before = {r.name: r for r in kb.regulations()}[LAB]
    assert before.doc_id == reg_doc and before.articles == 33
    methods = {e.method for m in kb.measures_for(LAB, relations=None).measures for e in m.evidence}
    assert {"citation", "topic"} <= methods
    article_ids = {a.id for a in kb.regulation(LAB).articles}

    report = kb.remove([reg_doc])
    assert report.removed == [reg_doc] and report.already_removed == []
    after = {r.name: r for r in kb.regulations()}[LAB]
    assert after.doc_id is None and after.articles == 0
    assert kb.regulation(LAB).articles == []
    left = kb.measures_for(LAB, relations=None).measures
    assert left and {e.method for m in left for e in m.evidence} <= {"citation", "alias"}  # the report's own words stay
    assert not [link for link in kb.store.links() if link.article_id in article_ids]
    for mode in ("hybrid", "dense", "bm25"):
        assert all(h.doc_id != reg_doc for h in kb.search("实验动物的饲育管理", k=50, mode=mode)), mode  # type: ignore[arg-type]
    tombstone = {t.id: t for t in kb.removed_documents()}[reg_doc]
    assert (tombstone.title, tombstone.path, tombstone.doc_type) == (LAB, LAB_FILE, "regulation") and tombstone.removed_at
    assert not _server_holds(kb, reg_doc)
    assert_servers_agree(kb)

    _ingest_again(kb, corpus, LAB_FILE)
    assert {r.name: r for r in kb.regulations()}[LAB].articles == 33
    assert "topic" in {e.method for m in kb.measures_for(LAB).measures for e in m.evidence}  # relinked
    assert_servers_agree(kb)


def test_removing_over_http(kb: KnowledgeBase, corpus: Path) -> None:
    doc = _doc_id(kb, SCIENCE_FILE)
    with TestClient(create_app(kb, api_key=API_KEY)) as client:
        assert client.delete(f"/documents/{doc}").status_code == 401
        assert client.delete(f"/documents/{doc}", headers={"X-API-Key": "wrong"}).status_code == 403
        assert client.get(f"/documents/{doc}").status_code == 200
        missing = client.delete("/documents/doc:000000000000", headers={"X-API-Key": API_KEY})
        assert missing.status_code == 404 and "no document" in missing.json()["detail"]
        resp = client.delete(f"/documents/{doc.removeprefix('doc:')[:8]}", headers={"X-API-Key": API_KEY})  # a unique prefix
        assert resp.status_code == 200, resp.text
        assert resp.json()["removed"] == [doc] and resp.json()["already_removed"] == []
        assert client.get(f"/documents/{doc}").status_code == 404
        assert doc not in {d["id"] for d in client.get("/documents").json()}
        removed = client.get("/documents", params={"removed": "true"}).json()
        assert {"id": doc, "path": SCIENCE_FILE, "doc_type": "regulation"}.items() <= next(r for r in removed if r["id"] == doc).items()
        again = client.delete(f"/documents/{doc}", headers={"X-API-Key": API_KEY})
        assert again.status_code == 200 and again.json() == {**again.json(), "removed": [], "already_removed": [doc]}
    with TestClient(create_app(kb)) as closed:  # no key configured: writes are off
        assert closed.delete(f"/documents/{doc}").status_code == 403
    assert_servers_agree(kb)
    _ingest_again(kb, corpus, SCIENCE_FILE)


def test_removing_from_the_command_line(kb: KnowledgeBase, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = str(kb.data_dir)
    doc = _doc_id(kb, GENETIC_FILE)
    result = runner.invoke(cli_app, ["remove", doc, "--data", data])  # stdin is not a terminal: refused
    assert result.exit_code == 1 and "--yes" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    monkeypatch.setattr("policykg.api.cli.ingest._interactive", lambda: True)
    result = runner.invoke(cli_app, ["remove", doc, "--data", data], input="n\n")
    assert result.exit_code == 1 and "nothing removed" in result.stderr
    assert doc in {d.id for d in kb.documents()}
    result = runner.invoke(cli_app, ["remove", "doc:ffffffffffff", "--yes", "--data", data])
    assert result.exit_code == 1 and "no document 'doc:ffffffffffff'" in result.stderr and "Traceback" not in result.stderr
    # by the path it was ingested from
    result = runner.invoke(cli_app, ["remove", str(corpus / GENETIC_FILE), "--yes", "--data", data])
    assert result.exit_code == 0, result.output
    assert f"removed {doc}" in result.stdout and "1 removed, 0 already removed" in result.stdout
    result = runner.invoke(cli_app, ["remove", doc, "--yes", "--json", "--data", data])  # twice: harmless
    assert result.exit_code == 0 and json.loads(result.stdout)["already_removed"] == [doc]
    result = runner.invoke(cli_app, ["documents", "--removed", "--json", "--data", data])
    assert result.exit_code == 0 and doc in {t["id"] for t in json.loads(result.stdout)}
    genetic = kb.find_regulation("人类遗传资源管理条例")  # the report cites it: it stays, cited-only
    assert genetic.doc_id is None and {e.method for m in kb.measures_for(genetic.id, relations=None).measures for e in m.evidence} == {"citation"}
    assert_servers_agree(kb)
    result = runner.invoke(cli_app, ["ingest", str(corpus / GENETIC_FILE), "--manifest", str(corpus / "manifest.csv"), "--data", data])
    assert result.exit_code == 0 and "had been removed before" in result.stdout
    assert doc in {d.id for d in kb.documents()} and doc not in {t.id for t in kb.removed_documents()}


def test_removing_the_founding_report_leaves_nothing_of_it(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    doc = _doc_id(kb, FOUNDING)
    measures = {m.id for m in kb.store.measures(doc)}
    units = {u.name for u in kb.units()}
    assert measures and {"天津市科学技术局党委", "天津市科学技术局"} <= units
    cited_only = {r.name for r in kb.regulations() if r.doc_id is None}
    assert "天津市科学技术进步促进条例" in cited_only
    queries = ("行政执法人员培训", "现场检查", "法治政府建设")
    for q in queries:
        assert any(h.doc_id == doc for h in kb.search(q, k=20)), q  # the store answers with it before
    counts = kb.stats()

    report = kb.remove([str(corpus / FOUNDING)])
    assert report.removed == [doc] and report.seconds > 0

    assert doc not in {d.id for d in kb.documents()}
    with pytest.raises(NotFound):
        kb.document(doc)
    for q in queries:
        for mode in ("hybrid", "dense", "bm25"):
            assert all(h.doc_id != doc for h in kb.search(q, k=50, mode=mode)), (q, mode)  # type: ignore[arg-type]
        assert all(h.doc_id != doc for year in kb.timeline(q).values() for h in year)
    for name in (LAB, "人类遗传资源管理条例", "科学技术进步法"):
        assert kb.measures_for(name, relations=None).measures == []  # regulations held in full stay, with nothing implementing them
        assert kb.regulation(name).articles
    assert not {r.name for r in kb.regulations()} & cited_only  # cited only by the report: gone
    assert kb.units() == []
    with pytest.raises(NotFound):
        kb.unit("局党委")
    after = kb.stats()
    assert after["documents"] == counts["documents"] - 1 and after["measures"] == 0 and after["links"] == {}
    assert after["passages"] < counts["passages"] and after["articles"] == counts["articles"]
    assert kb.store.links() == [] and not [i for i in kb.store.indicators() if i.doc_id == doc]
    assert kb.sparql("SELECT (COUNT(?m) AS ?n) WHERE { ?m a pkg:Measure }")["rows"] == [{"n": "0"}]
    assert kb.sparql(f"ASK {{ <{uri(doc)}> ?p ?o }}")["boolean"] is False
    assert kb.sparql(f"ASK {{ ?s ?p <{uri(doc)}> }}")["boolean"] is False
    ttl = tmp_path / "graph.ttl"
    kb.export("turtle", ttl)
    text = ttl.read_text(encoding="utf-8")
    assert doc.split(":")[1] not in text and "局党委" not in text and "市科技局2023年法治政府建设情况报告" not in text
    assert not any(m.split(":")[1] in text for m in measures)
    assert not _server_holds(kb, doc)
    assert_servers_agree(kb)
    assert kb.remove([doc]).already_removed == [doc]  # twice: harmless
    assert kb.remove([FOUNDING]).already_removed == [doc]  # by its shown path too
    with pytest.raises(NotFound, match="no document"):
        kb.remove(["doc:000000000000"])
    # a regulation held in full that no document cites any more goes entirely with its text
    lab = _doc_id(kb, LAB_FILE)
    assert kb.remove([lab]).removed == [lab]
    with pytest.raises(NotFound):
        kb.find_regulation(LAB)
    assert kb.stats()["regulations"] == after["regulations"] - 1
    assert_servers_agree(kb)


def test_an_ambiguous_unknown_or_locked_removal_removes_nothing(kb: KnowledgeBase, tmp_path: Path) -> None:
    for folder, issuer in (("a", "天津市甲区科学技术局"), ("b", "天津市乙区科学技术局")):  # two files named x.txt
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_text(
            f"{issuer}2023年法治政府建设情况报告\n一、加强行政执法\n（一）推进严格规范公正文明执法。{issuer}全面推行行政执法公示制度。\n",
            encoding="utf-8",
        )
        assert kb.ingest([tmp_path / folder / "x.txt"], metadata=None).ok
    before = kb.stats()
    with pytest.raises(KnowledgeBaseError, match=r"'x\.txt' names 2 documents"):
        kb.remove(["x.txt"])
    kept = kb.documents()[0].id
    for refs in (["doc:", kept], [kept, "doc:0000000"], [kept, "nothing.txt"]):  # a short prefix names nothing
        with pytest.raises(NotFound):
            kb.remove(refs)
    with kb._ingest_lock(), pytest.raises(KnowledgeBaseError, match="another ingest"):
        KnowledgeBase(kb.data_dir, encoder=HashingEncoder()).remove([kept])
    assert kb.stats() == before
    twins = [d.id for d in kb.documents() if d.path == "x.txt"]
    assert len(twins) == 2 and kb.remove(twins).removed == twins
    assert_servers_agree(kb)


@pytest.mark.slow
def test_a_removal_while_the_graph_server_is_down_is_completed_by_sync(
    tmp_path: Path, servers: Servers, hashing_encoder: HashingEncoder, corpus: Path,
) -> None:
    """The removal commits locally and says so in one line; search never returns the removed passages
    (Milvus was not told either); `policykg sync` later takes the document off both servers."""
    data = servers.configure(tmp_path / "data")
    graph = start_oxigraph(tmp_path / "ox")
    toml = (data / "policykg.toml").read_text()
    port = toml.split("127.0.0.1:")[1].split("/")[0]
    (data / "policykg.toml").write_text(toml.replace(f"127.0.0.1:{port}", f"127.0.0.1:{graph.port}"))
    kb = KnowledgeBase(data, encoder=hashing_encoder)
    assert kb.ingest([corpus / FOUNDING, corpus / LAB_FILE], manifest=corpus / "manifest.csv").ok
    doc = _doc_id(kb, FOUNDING)
    assert _server_holds(kb, doc)
    graph.stop()
    with pytest.raises(BackendUnavailable, match="the store is intact; rerun `policykg sync`"):
        kb.remove([doc])
    assert doc not in {d.id for d in kb.documents()} and doc in {t.id for t in kb.removed_documents()}
    vectors = kb.components.vectors
    assert isinstance(vectors, MilvusIndex) and vectors.ids_of(doc)  # the graph server failed first: Milvus not told yet
    for mode in ("hybrid", "dense", "bm25"):
        assert all(h.doc_id != doc for h in kb.search("行政执法人员培训", k=50, mode=mode)), mode  # type: ignore[arg-type]
    client = TestClient(create_app(kb, api_key=API_KEY))
    resp = client.delete(f"/documents/{doc}", headers={"X-API-Key": API_KEY})
    assert resp.status_code == 503 and "policykg sync" in resp.json()["detail"]  # already removed; the servers still wait
    restarted = _restart(graph)  # the same server again: it still holds the document's graph
    try:
        fresh = KnowledgeBase(data, encoder=hashing_encoder)
        assert _server_holds(fresh, doc)
        result = runner.invoke(cli_app, ["sync", "--data", str(data)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["graph"]["dropped"] == 2  # doc/ and links/ of the document
        assert not _server_holds(fresh, doc)
        assert_servers_agree(fresh)
    finally:
        restarted.stop()


def _restart(server: Server) -> Server:
    """Oxigraph again on the same data and port (the store knows a server by its URL)."""
    exe = shutil.which("oxigraph", path=str(BIN)) or "oxigraph"
    args = [exe, "serve", "--location", str(server.data), "--bind", f"127.0.0.1:{server.port}", "--union-default-graph"]
    return _start("oxigraph", args, server.port, server.data)
