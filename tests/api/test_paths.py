"""API answers show where a document came from relative to what was ingested, never the server's directories.

A document's path is its display path: relative to the manifest's folder or the directory given,
else its file name. ``[server] full_paths = true`` (``POLICYKG_SERVER_FULL_PATHS``) shows the absolute
path instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policykg.api.config import load_config
from policykg.api.http import create_app
from policykg.api.kb import KnowledgeBase
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder

API_KEY = "paths-key-0123456789"
LAB = "实验动物管理条例"


@pytest.fixture(scope="module")
def client(founding_kb: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(founding_kb)) as c:
        yield c


def _secret_dirs(kb: KnowledgeBase, corpus: Path) -> list[str]:
    """The absolute directories an answer must not reveal (as given and resolved)."""
    dirs = {str(corpus), str(corpus.resolve()), str(kb.data_dir), str(kb.data_dir.resolve()), str(Path.cwd())}
    return sorted(d for d in dirs if len(d) > 1)


def _get(client: TestClient, url: str, **params: object) -> str:
    resp = client.get(url, params=params)  # type: ignore[arg-type]
    assert resp.status_code == 200, (url, resp.status_code, resp.text[:200])
    return resp.text


def test_no_answer_reveals_a_server_directory(client: TestClient, founding_kb: KnowledgeBase, corpus: Path) -> None:
    kb = founding_kb
    report = next(d for d in kb.documents() if d.doc_type == "report")
    reg = kb.find_regulation(LAB)
    measure = kb.measures_for(LAB).measures[0]
    unit = next(u for u in kb.units() if u.measures)
    answers = {
        "documents": _get(client, "/documents"),
        "removed": _get(client, "/documents", removed="true"),
        "document": _get(client, f"/documents/{report.id}"),
        "regulation measures": _get(client, f"/regulations/{reg.id}/measures"),
        "measure": _get(client, f"/measures/{measure.id}"),
        "unit": _get(client, f"/units/{unit.id}"),
        "search": _get(client, "/search", q="行政执法人员培训", k=20),
        "search grouped": _get(client, "/search", q="实验动物", k=20, group="true"),
        "timeline": _get(client, "/timeline", q="行政执法"),
        "graph": _get(client, "/graph"),
        "graph centred": _get(client, "/graph", center=report.id),
        "indicators": _get(client, f"/issuers/{report.issuer}/indicators"),
        "sparql": _get(client, "/sparql", query="SELECT ?d ?source WHERE { ?d dct:source ?source }"),
    }
    for name, text in answers.items():
        for secret in _secret_dirs(kb, corpus):
            assert secret not in text, f"{name} shows {secret}"
    docs = {d["id"]: d["path"] for d in json.loads(answers["documents"])}
    assert sorted(docs.values()) == sorted([FOUNDING, *FOUNDING_REGULATIONS])  # relative to the manifest's folder
    assert json.loads(answers["document"])["path"] == FOUNDING
    assert json.loads(answers["measure"])["document"]["path"] == FOUNDING
    assert {h["path"] for h in json.loads(answers["search"])} <= set(docs.values())
    sources = {r["source"] for r in json.loads(answers["sparql"])["rows"]}
    assert sources == set(docs.values())


def test_display_paths_follow_the_ingest_root(tmp_path: Path, corpus: Path, hashing_encoder: HashingEncoder) -> None:
    """A directory given: relative to it; a single file: its name; an upload: its (safe) name."""
    folder = tmp_path / "incoming" / "2023"
    folder.mkdir(parents=True)
    (folder / "report.txt").write_bytes((corpus / FOUNDING).read_bytes())
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    assert kb.ingest([tmp_path / "incoming"]).ok
    assert [d.path for d in kb.documents()] == ["2023/report.txt"]
    assert kb.ingest([corpus / FOUNDING_REGULATIONS[0]]).ok
    assert {d.path for d in kb.documents()} == {"2023/report.txt", "shiyan-dongwu-guanli-tiaoli.md"}
    with TestClient(create_app(kb, api_key=API_KEY)) as client:
        body = "天津市某区科技局2022年工作总结\n\n一、主要工作\n1.推动科技成果转化。组织成果对接活动12场。\n".encode()
        resp = client.post("/documents", headers={"X-API-Key": API_KEY}, files={"file": ("总结.txt", body, "text/plain")})
        assert resp.status_code == 201, resp.text
        assert [d["path"] for d in resp.json()["documents"]] == ["总结.txt"]
        for secret in _secret_dirs(kb, corpus):
            assert secret not in resp.text and secret not in client.get("/documents").text
    # the absolute path stays inside: the same file again is unchanged, changed content at it replaces
    assert kb.ingest([tmp_path / "incoming"]).unchanged == [str(folder / "report.txt")]
    (folder / "report.txt").write_text((corpus / FOUNDING).read_text(encoding="utf-8").replace("现场检查40次", "现场检查45次"), encoding="utf-8")
    assert kb.ingest([folder / "report.txt"]).replaced == [str(folder / "report.txt")]
    assert "report.txt" in {d.path for d in kb.documents()}  # now ingested as a single file: its name
    kb.close()


def test_full_paths_when_the_operator_turns_them_on(founding_kb: KnowledgeBase, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICYKG_SERVER_FULL_PATHS", "true")
    config = load_config(founding_kb.data_dir)
    assert config.server.full_paths is True
    kb = KnowledgeBase(founding_kb.data_dir, config=config, encoder=founding_kb.encoder())
    with TestClient(create_app(kb)) as client:
        paths = {d["path"] for d in client.get("/documents").json()}
    assert paths == {str((corpus / f).resolve()) for f in (FOUNDING, *FOUNDING_REGULATIONS)}
    report = next(d for d in kb.documents() if d.doc_type == "report")
    assert kb.document(report.id).path == str((corpus / FOUNDING).resolve())
    kb.close()
