"""The store: idempotent ingest, replacement, bad input, links with evidence."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import get_args

import numpy as np
import pytest

from policykg.api.errors import IngestLocked, NotFound
from policykg.api.kb import KnowledgeBase
from policykg.graph.model import Evidence, Indicator, LinkMethod
from policykg.graph.readmodels import DocumentSummary, to_json
from policykg.graph.store import SQLiteStore
from tests.conftest import FOUNDING, HashingEncoder, assert_servers_agree


def test_measures_implementing_a_regulation(founding_kb: KnowledgeBase) -> None:
    result = founding_kb.measures_for("实验动物管理条例")
    assert result.regulation.name == "实验动物管理条例"
    by_title = {m.title: m for m in result.measures}
    assert all(m.relations == ["implements"] for m in result.measures)
    # 执法人员就《…》《实验动物管理条例》等法律法规开展普法宣传: the measure studies the law, it does not implement it
    assert "提升行政执法满意度" not in by_title
    every = {m.title: m for m in founding_kb.measures_for("实验动物管理条例", relations=None).measures}
    citation = every["提升行政执法满意度"]
    assert citation.relations == ["studies"]
    assert "citation" in [e.method for e in citation.evidence]
    topic = by_title["依法履行行政执法职责"]
    assert "topic" in [e.method for e in topic.evidence]
    doc = founding_kb.document(citation.document.id)
    for m in [*result.measures, citation]:
        assert doc.text[m.start: m.end] == m.text
        for e in m.evidence:
            assert doc.text[e.start: e.end] == e.quote
            assert e.start >= m.start and e.end <= m.end
            if e.mention_start is not None:
                assert doc.text[e.mention_start: e.mention_end] == e.mention
    cite = next(e for e in citation.evidence if e.method == "citation")
    assert cite.mention == "《实验动物管理条例》" and cite.score == 1.0


def test_alias_and_local_alias_resolution(founding_kb: KnowledgeBase) -> None:
    reg = founding_kb.find_regulation("科技进步法")
    assert reg.name == "中华人民共和国科学技术进步法"
    assert founding_kb.find_regulation("科学技术进步法").id == reg.id
    assert founding_kb.regulation("科学技术进步法").articles[0].label == "第一条"
    local = founding_kb.measures_for("天津市科学技术进步促进条例", relations=None)
    ev = [e for m in local.measures for e in m.evidence]
    assert {e.mention for e in ev} >= {"《天津市科学技术进步促进条例》", "《条例》"}
    assert {e.method for e in ev if e.mention == "《条例》"} == {"alias"}
    # a well-known law named without 《》
    constitution = founding_kb.measures_for("宪法", relations=None)
    assert any(e.method == "alias" and e.mention == "宪法" for m in constitution.measures for e in m.evidence)
    with pytest.raises(NotFound):
        founding_kb.find_regulation("不存在的条例")


def test_cited_regulation_without_text_is_kept(founding_kb: KnowledgeBase) -> None:
    regs = {r.name: r for r in founding_kb.regulations()}
    tianjin = regs["天津市科学技术进步促进条例"]
    assert tianjin.doc_id is None and tianjin.articles == 0
    # 修改后的《天津市科学技术进步促进条例》…施行, 积极开展《条例》宣贯解读工作: revised and studied, not implemented
    assert tianjin.relations.get("revises", 0) >= 1 and tianjin.relations.get("studies", 0) >= 1
    assert regs["实验动物管理条例"].articles == 33
    assert not any("汇编" in n for n in regs)


def test_units_and_planned_measures(founding_kb: KnowledgeBase) -> None:
    party = founding_kb.unit("局党委")  # by its alias: the unit is named in full
    assert party.name == "天津市科学技术局党委"
    assert party.parent is not None and party.parent.name == "天津市科学技术局"
    assert "健全突发事件应对机制制度" in [m.title for m in party.measures]
    issuer = founding_kb.unit("市科技局")
    assert issuer.name == "天津市科学技术局"
    assert "天津市科学技术局党委" in [c.name for c in issuer.children]
    planned = [m for m in issuer.measures if m.status == "planned"]
    assert planned and all(m.year == 2024 for m in planned)


def test_store_read_models_agree_with_the_stored_graph(founding_kb: KnowledgeBase) -> None:
    store = founding_kb.store
    assert not hasattr(store, "query")  # no SQL outside the store
    lab = next(r for r in store.regulations() if r.name == "实验动物管理条例")
    summaries = {s.id: s for s in store.regulation_summaries()}
    assert set(summaries) == {r.id for r in store.regulations()}
    detail = store.regulation_detail(lab.id)
    assert detail is not None and len(detail.articles) == summaries[lab.id].articles == 33
    result = store.regulation_measures(lab.id)
    assert result is not None and result.regulation.name == lab.name and result.measures
    assert len(result.measures) == summaries[lab.id].measures
    assert sum(len(m.evidence) for m in result.measures) == summaries[lab.id].links
    order = [(m.year or 0, m.document.title, m.start) for m in result.measures]
    assert order == sorted(order)
    for m in result.measures:
        assert all(isinstance(e, Evidence) for e in m.evidence)
        evidence_order = [(get_args(LinkMethod).index(e.method), e.start) for e in m.evidence]
        assert evidence_order == sorted(evidence_order)
    cited = store.regulation_measures(lab.id, methods=["citation"], relations=None)
    assert cited is not None and cited.measures and all(e.method == "citation" for m in cited.measures for e in m.evidence)
    dated = store.regulation_measures(lab.id, year=1990)
    assert dated is not None and dated.measures == []

    measure = store.measure_detail(result.measures[0].id)
    assert measure is not None and measure.title == result.measures[0].title
    assert any(link.regulation.id == lab.id and link.regulation.name == lab.name for link in measure.links)
    with_figures = next(i.measure_id for i in store.indicators() if i.measure_id)
    figures = store.measure_detail(with_figures)
    assert figures is not None and figures.indicators and all(isinstance(i, Indicator) for i in figures.indicators)
    assert [i.id for i in figures.indicators] == [i.id for i in store.indicators() if i.measure_id == with_figures]

    units = {u.name: u for u in store.unit_summaries()}
    party = store.unit_detail(units["天津市科学技术局党委"].id)
    assert party is not None and len(party.measures) == units["天津市科学技术局党委"].measures >= 1
    assert party.parent is not None and party.parent.name == "天津市科学技术局"
    assert [(m.year or 0, m.start) for m in party.measures] == sorted((m.year or 0, m.start) for m in party.measures)

    docs = store.documents()
    assert docs and all(isinstance(d, DocumentSummary) for d in docs)
    report = next(d for d in docs if d.doc_type == "report")
    assert report.measures == len(store.measures(report.id))
    text = store.document_detail(report.id)
    assert text is not None and text.length == len(text.text) == report.length
    assert to_json(text)["text"] == text.text and to_json(docs)[0]["id"] == docs[0].id
    for unknown in (store.regulation_detail, store.regulation_measures, store.measure_detail, store.unit_detail, store.document_detail):
        assert unknown("nothing:0") is None


def test_store_passage_and_sync_reads(founding_kb: KnowledgeBase) -> None:
    store = founding_kb.store
    dim = store.vector_dim()
    assert dim == 384
    ids, _ = store.passage_vectors(dim)
    rows = store.passage_sync_rows()
    docs = store.documents()
    fingerprints = store.fingerprints_by_document()
    assert {r.id for r in rows} == {d.id for d in docs} == set(fingerprints)
    assert all(fingerprints[r.id] == r.fingerprint for r in rows) and set(fingerprints.values()) == store.fingerprints()
    assert sum(r.n for r in rows) == len(ids)
    sentence_rows, sentence_vectors = store.sentence_vectors(dim)
    assert sum(r.sentences for r in rows) == len(sentence_rows) > 0
    for r in rows:
        pids, _, _ = store.document_passage_vectors(r.id)
        assert len(pids) == r.n and (r.lo, r.hi) == ((min(pids), max(pids)) if pids else (None, None))
        spids, svecs = store.document_sentence_vectors(r.id)  # that document's rows of sentence_vectors
        mine = np.isin(sentence_rows, pids)
        assert len(spids) == r.sentences and spids.tolist() == sentence_rows[mine].tolist()
        assert np.array_equal(svecs, sentence_vectors[mine]) or not len(spids)
    measures = store.measures()
    assert store.measure_document_ids() == {m.id: m.doc_id for m in measures}
    passages = store.passages()
    for reg in store.regulations():
        expected = {p.id for p in passages if reg.doc_id and p.doc_id == reg.doc_id}
        linked = {link.measure_id for link in store.links(regulation_id=reg.id)}
        for m in measures:
            if m.id in linked:
                expected |= {p.id for p in passages if p.doc_id == m.doc_id and p.start < m.end and m.start < p.end}
        assert store.regulation_passage_ids(reg.id) == expected, reg.name
    regulations_of: dict[str, set[str]] = {}
    for link in store.links():
        regulations_of.setdefault(link.measure_id, set()).add(link.regulation_id)
    assert store.linked_regulation_ids([m.id for m in measures]) == regulations_of

    report = next(d for d in docs if d.doc_type == "report")
    assert [d.id for d in store.reports()] == [d.id for d in docs if d.doc_type == "report"]
    assert report.id in [d.id for d in store.reports(report.year)] and store.reports(1990) == []
    stored = store.stored_passages(report.id)
    assert {sp.passage.id for sp in stored} == {p.id for p in passages if p.doc_id == report.id}
    assert [sp.passage.start for sp in stored] == sorted(sp.passage.start for sp in stored)
    tids, tokens = store.passage_tokens()
    tokens_of = dict(zip(tids.tolist(), tokens, strict=True))
    for sp in stored:
        assert sp.vector is not None and len(sp.vector) == dim and sp.tokens == tokens_of[sp.passage.id]
    reports = {d.id for d in docs if d.doc_type == "report"}
    assert len(store.report_passage_tokens()) == sum(1 for p in passages if p.doc_id in reports)
    sections = store.top_sections(report.id)
    assert [s[0] for s in sections] == sorted(s[0] for s in sections)
    assert [title for _, _, title, planned in sections if planned] == ["2024年推进法治政府建设的主要安排"]


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


# ------------------------------------------------------------------ removal, tombstones, display paths
def _founding(kb: KnowledgeBase, corpus: Path) -> str:
    assert kb.ingest([corpus / FOUNDING, corpus / "regulations/shiyan-dongwu-guanli-tiaoli.md"], manifest=corpus / "manifest.csv").ok
    return next(d.id for d in kb.documents() if d.doc_type == "report")


def test_store_removal_is_one_transaction_with_a_tombstone(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder) -> None:
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    report = _founding(kb, corpus)
    store = kb.store
    regulation = next(d.id for d in kb.documents() if d.doc_type == "regulation")
    generation = store.generation()
    assert not store.links_dirty() and store.removed_documents() == []
    assert store.matching_documents([report]) == [report] == store.matching_documents([report.removeprefix("doc:")])
    assert store.matching_documents([report[:10]]) == [report] and store.matching_documents([report[:9]]) == []  # 6+ hex digits
    assert store.matching_documents([FOUNDING]) == [report]  # its shown path
    assert store.matching_documents([str((corpus / FOUNDING).resolve())]) == [report]  # the path it was ingested from
    assert store.matching_documents([report], removed=True) == []

    assert store.remove_documents([regulation, "doc:000000000000", regulation]) == [regulation]
    assert store.generation() == generation + 1 and store.links_dirty()
    # what its text supported went with it (the topic links); the report's citation of it stays
    lab = next(r for r in store.regulations() if r.name == "实验动物管理条例")
    assert lab.doc_id is None and {link.evidence.method for link in store.links(regulation_id=lab.id)} == {"citation"}
    assert store.articles(lab.id) == [] and not [p for p in store.passages() if p.doc_id == regulation]
    tombstone = store.removed_documents()[0]
    assert (tombstone.id, tombstone.path, tombstone.title, tombstone.doc_type) == (
        regulation, "regulations/shiyan-dongwu-guanli-tiaoli.md", "实验动物管理条例", "regulation",
    )
    assert store.matching_documents([regulation]) == [] and store.matching_documents([regulation], removed=True) == [regulation]
    assert store.remove_documents([regulation]) == [] and store.generation() == generation + 1  # nothing to do: no write


def test_interrupted_removal_leaves_the_previous_state(
    corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder, monkeypatch: pytest.MonkeyPatch, data_dir_for: Callable[[Path], Path],
) -> None:
    kb = KnowledgeBase(data_dir_for(tmp_path / "data"), encoder=hashing_encoder)
    _founding(kb, corpus)
    ids = [d.id for d in kb.documents()]
    before, links, generation = kb.stats(), kb.store.links(), kb.store.generation()
    delete = kb.store._delete
    calls = 0

    def power_cut(con: object, doc_id: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second document of the removal
            raise RuntimeError("power cut")
        delete(con, doc_id)  # type: ignore[arg-type]

    monkeypatch.setattr(kb.store, "_delete", power_cut)
    with pytest.raises(RuntimeError, match="power cut"):
        kb.remove(ids)
    monkeypatch.setattr(kb.store, "_delete", delete)
    assert kb.stats() == before and kb.store.links() == links and kb.store.generation() == generation
    assert kb.removed_documents() == [] and {d.id for d in kb.documents()} == set(ids)
    assert_servers_agree(kb)
    assert sorted(kb.remove(ids).removed) == sorted(ids)
    assert kb.stats()["documents"] == 0 and kb.stats()["regulations"] == 0 and kb.stats()["units"] == 0
    assert_servers_agree(kb)


def test_reingest_after_removal_is_noted_and_clears_the_tombstone(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder) -> None:
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    report = _founding(kb, corpus)
    counts = kb.stats()
    assert kb.remove([report]).removed == [report]
    again = kb.ingest([corpus / FOUNDING], manifest=corpus / "manifest.csv")
    assert again.added == again.readded == [str(corpus / FOUNDING)]
    assert kb.removed_documents() == [] and kb.stats() == counts
    assert kb.ingest([corpus / FOUNDING], manifest=corpus / "manifest.csv").readded == []  # unchanged: nothing to note


def test_an_older_store_opens_with_file_names_and_tombstones(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder) -> None:
    """A store written before display paths and tombstones: the table and column are added on open, answers
    show file names, and the graph server's copy of each document is rewritten at the next sync."""
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    report = _founding(kb, corpus)
    kb.store.record_sync("sparql http://example.invalid/update", f"doc/{report}", "x")
    kb.store.record_sync("milvus http://example.invalid c", report, "y")
    kb.close()
    con = sqlite3.connect(tmp_path / "data" / "policykg.sqlite")
    con.executescript("DROP TABLE removed_documents; ALTER TABLE documents DROP COLUMN display_path;")
    con.close()
    old = SQLiteStore(tmp_path / "data" / "policykg.sqlite", readonly=True)
    assert {d.path for d in old.documents()} == {"tianjin-kjj-fazhi-2023.txt", "shiyan-dongwu-guanli-tiaoli.md"}
    assert old.removed_documents() == [] and old.matching_documents([report], removed=True) == []
    old.close()
    kb = KnowledgeBase(tmp_path / "data", encoder=hashing_encoder)
    assert {d.path for d in kb.documents()} == {"tianjin-kjj-fazhi-2023.txt", "shiyan-dongwu-guanli-tiaoli.md"}
    assert kb.store.sync_state("sparql http://example.invalid/update") == {}
    assert kb.store.sync_state("milvus http://example.invalid c") == {report: "y"}
    assert kb.remove(["tianjin-kjj-fazhi-2023.txt"]).removed == [report]
    assert [t.path for t in kb.removed_documents()] == ["tianjin-kjj-fazhi-2023.txt"]


def _stored_tokens(kb: KnowledgeBase) -> dict[tuple[str, int, int], str]:
    con = sqlite3.connect(kb.data_dir / "policykg.sqlite")
    try:
        return {(d, s, e): t for d, s, e, t in con.execute('SELECT doc_id, start, "end", tokens FROM passages')}
    finally:
        con.close()


def test_tokens_do_not_depend_on_the_order_of_ingest(corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder) -> None:
    """The 2021 State Council report names 优化营商环境条例 without 《》 ("实施优化营商环境条例"); ingested
    before or after that regulation's text, one file per ingest, every passage gets the same BM25 tokens,
    and the report's passage keeps the name as one word either way."""
    files = [corpus / "reports/gov-work/state-council-gwr-2021.txt", corpus / "regulations/youhua-yingshang-huanjing-tiaoli.md"]
    stores = []
    for name, order in (("report-first", files), ("report-last", files[::-1])):
        kb = KnowledgeBase(tmp_path / name, encoder=hashing_encoder)
        for f in order:
            assert kb.ingest([f], manifest=corpus / "manifest.csv").ok
        stores.append(_stored_tokens(kb))
        kb.close()
    first, last = stores
    assert first.keys() == last.keys() and len(first) > 100
    assert first == last
    con = sqlite3.connect(tmp_path / "report-first" / "policykg.sqlite")
    try:
        in_report = [t for (t,) in con.execute(
            "SELECT p.tokens FROM passages p JOIN documents d ON d.id = p.doc_id "
            "WHERE d.doc_type = 'report' AND instr(p.text, '实施优化营商环境条例') > 0"
        )]
    finally:
        con.close()
    assert in_report and all("优化营商环境条例" in t.split(" ") for t in in_report)
