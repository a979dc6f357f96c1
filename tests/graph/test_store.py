"""The store: idempotent ingest, replacement, bad input, links with evidence."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from policykg.api.kb import IngestLocked, KnowledgeBase, NotFound
from tests.conftest import FOUNDING, HashingEncoder, assert_servers_agree


def test_measures_implementing_a_regulation(founding_kb: KnowledgeBase) -> None:
    result = founding_kb.measures_for("实验动物管理条例")
    assert result["regulation"]["name"] == "实验动物管理条例"
    by_title = {m["title"]: m for m in result["measures"]}
    citation = by_title["提升行政执法满意度"]
    assert "citation" in [e["method"] for e in citation["evidence"]]
    topic = by_title["依法履行行政执法职责"]
    assert "topic" in [e["method"] for e in topic["evidence"]]
    doc = founding_kb.document(citation["document"]["id"])
    for m in result["measures"]:
        assert doc.text[m["start"]: m["end"]] == m["text"]
        for e in m["evidence"]:
            assert doc.text[e["start"]: e["end"]] == e["quote"]
            assert e["start"] >= m["start"] and e["end"] <= m["end"]
            if e["mention_start"] is not None:
                assert doc.text[e["mention_start"]: e["mention_end"]] == e["mention"]
    cite = next(e for e in citation["evidence"] if e["method"] == "citation")
    assert cite["mention"] == "《实验动物管理条例》" and cite["score"] == 1.0


def test_alias_and_local_alias_resolution(founding_kb: KnowledgeBase) -> None:
    reg = founding_kb.find_regulation("科技进步法")
    assert reg.name == "中华人民共和国科学技术进步法"
    assert founding_kb.find_regulation("科学技术进步法").id == reg.id
    assert founding_kb.regulation("科学技术进步法")["articles"][0]["label"] == "第一条"
    local = founding_kb.measures_for("天津市科学技术进步促进条例")
    ev = [e for m in local["measures"] for e in m["evidence"]]
    assert {e["mention"] for e in ev} >= {"《天津市科学技术进步促进条例》", "《条例》"}
    assert {e["method"] for e in ev if e["mention"] == "《条例》"} == {"alias"}
    # a well-known law named without 《》
    constitution = founding_kb.measures_for("宪法")
    assert any(e["method"] == "alias" and e["mention"] == "宪法" for m in constitution["measures"] for e in m["evidence"])
    with pytest.raises(NotFound):
        founding_kb.find_regulation("不存在的条例")


def test_cited_regulation_without_text_is_kept(founding_kb: KnowledgeBase) -> None:
    regs = {r["name"]: r for r in founding_kb.regulations()}
    tianjin = regs["天津市科学技术进步促进条例"]
    assert tianjin["doc_id"] is None and tianjin["articles"] == 0 and tianjin["measures"] >= 1
    assert regs["实验动物管理条例"]["articles"] == 33
    assert not any("汇编" in n for n in regs)


def test_units_and_planned_measures(founding_kb: KnowledgeBase) -> None:
    party = founding_kb.unit("局党委")
    assert party["parent"]["name"] == "天津市科学技术局"
    assert "健全突发事件应对机制制度" in [m["title"] for m in party["measures"]]
    issuer = founding_kb.unit("市科技局")
    assert issuer["name"] == "天津市科学技术局"
    assert "局党委" in [c["name"] for c in issuer["children"]]
    planned = [m for m in issuer["measures"] if m["status"] == "planned"]
    assert planned and all(m["year"] == 2024 for m in planned)


def test_ingest_is_idempotent_and_replaces_changed_content(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder, data_dir_for: Callable[[Path], Path]) -> None:
    kb = KnowledgeBase(data_dir_for(tmp_path / "data"), encoder=hashing_encoder)
    src = tmp_path / "report.txt"
    shutil.copy(corpus / FOUNDING, src)
    first = kb.ingest([src], metadata=None)
    assert first.added == [str(src)]
    counts = kb.stats()
    again = kb.ingest([src])
    assert again.unchanged == [str(src)] and not again.added and not again.replaced
    assert kb.stats() == counts
    src.write_text(src.read_text(encoding="utf-8").replace("现场检查40次", "现场检查45次"), encoding="utf-8")
    changed = kb.ingest([src])
    assert changed.replaced == [str(src)]
    after = kb.stats()
    assert after["documents"] == 1 and after["measures"] == counts["measures"]
    values = {i.value for i in kb.store.indicators() if i.name == "现场检查"}
    assert values == {45}
    assert_servers_agree(kb)


def test_bad_input_is_reported_and_loses_nothing(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder, data_dir_for: Callable[[Path], Path]) -> None:
    kb = KnowledgeBase(data_dir_for(tmp_path / "data"), encoder=hashing_encoder)
    assert kb.ingest([corpus / FOUNDING]).ok
    before = kb.stats()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.pdf"
    binary.write_bytes(bytes(range(256)) * 40)
    odd = tmp_path / "notes.xyz"
    odd.write_text("hello")
    good = corpus / "regulations/shiyan-dongwu-guanli-tiaoli.md"
    report = kb.ingest([empty, binary, odd, good, tmp_path / "missing.txt"])
    assert report.added == [str(good)]
    assert len(report.failed) == 4
    for line in report.failed:
        assert "\n" not in line
    for name in ("missing.txt", "empty.txt", "blob.pdf", "notes.xyz"):
        assert any(name in line for line in report.failed), name
    after = kb.stats()
    assert after["documents"] == before["documents"] + 1
    assert after["measures"] == before["measures"]
    assert_servers_agree(kb)


def test_second_ingest_on_the_same_directory_gets_a_clear_error(tmp_path: Path, hashing_encoder: HashingEncoder, corpus: Path) -> None:
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    with kb._ingest_lock(), pytest.raises(IngestLocked, match="another ingest"):
        KnowledgeBase(tmp_path / "data", encoder=hashing_encoder).ingest([corpus / FOUNDING])


def test_interrupted_write_leaves_the_previous_state(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch, data_dir_for: Callable[[Path], Path]) -> None:
    kb = KnowledgeBase(data_dir_for(tmp_path / "data"), encoder=hashing_encoder)
    assert kb.ingest([corpus / FOUNDING]).ok
    before = kb.stats()
    store = kb.store
    original = store._upsert_regulation

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(store, "_upsert_regulation", boom)
    report = kb.ingest([corpus / "reports/gov-work/shenzhen-gwr-2020.txt"])
    assert report.failed and "power cut" in report.failed[0]
    monkeypatch.setattr(store, "_upsert_regulation", original)
    assert kb.stats() == before
    assert_servers_agree(kb)
    assert kb.ingest([corpus / "reports/gov-work/shenzhen-gwr-2020.txt"]).ok
    assert_servers_agree(kb)
