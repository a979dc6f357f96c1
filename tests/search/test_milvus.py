"""The Milvus backend's sentence rows against the local backend's, on corpus text in a Milvus Lite server (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.servers import Servers
from policykg.api.kb import KnowledgeBase
from policykg.ingest.passages import sentence_texts
from policykg.search.filters import Filters, PassageCatalog
from policykg.search.local_index import LocalIndex
from policykg.search.milvus import MilvusIndex
from policykg.search.ranking import Candidates
from tests.conftest import FOUNDING, FOUNDING_REGULATIONS, HashingEncoder, assert_servers_agree

pytestmark = pytest.mark.slow

LAB = "regulations/shiyan-dongwu-guanli-tiaoli.md"
TOPICS = ["实验动物许可证管理", "行政执法公示", "人类遗传资源采集", "科技成果转化", "法治政府建设"]


@pytest.fixture(scope="module")
def milvus_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder, servers: Servers) -> KnowledgeBase:
    """The founding report and the regulations it cites, vectors in Milvus Lite (stand-in encoder)."""
    kb = KnowledgeBase(servers.configure(tmp_path_factory.mktemp("milvus-sentences")), encoder=hashing_encoder)
    report = kb.ingest([corpus / FOUNDING, *(corpus / r for r in FOUNDING_REGULATIONS)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb


def _indexes(kb: KnowledgeBase, directory: Path) -> tuple[MilvusIndex, LocalIndex]:
    """The knowledge base's Milvus backend and a local (faiss) backend built from the same store."""
    kb.searcher.refresh()
    milvus = kb.searcher.vectors
    assert isinstance(milvus, MilvusIndex)
    local = LocalIndex(kb.store, directory)
    with kb.store.snapshot():
        local.refresh(PassageCatalog.load(kb.store), kb.store.generation())
    return milvus, local


def _queries(kb: KnowledgeBase, encoder: HashingEncoder) -> tuple[list[int], np.ndarray]:
    """Topic phrases, then single sentences (as embedded) of a few long passages: those passages' ids, and
    the query vectors."""
    rows, _ = kb.store.sentence_vectors(384)
    some = sorted(set(rows.tolist()))[:: max(1, len(set(rows.tolist())) // 6)][:6]
    sentences = [sentence_texts(p)[1] for p in kb.store.passages(some)]
    return some, encoder.encode_queries(TOPICS + sentences)


def _assert_same(milvus: Candidates, local: Candidates, *, atol: float = 1e-3) -> int:
    """The same passages by best sentence, scores within ``atol`` (the local sentence index is fp16), except
    near the cut: sentence rows tied with the last one fetched may differ, and so may the passages they bring.
    How many passages were compared."""
    assert len(set(milvus.ids.tolist())) == len(milvus.ids)  # a passage once, at its best sentence
    assert bool(len(milvus.ids)) == bool(len(local.ids))
    if not len(milvus.ids):
        return 0
    cut = float(max(milvus.scores.min(), local.scores.min())) + atol
    m = {pid: s for pid, s in zip(milvus.ids.tolist(), milvus.scores.tolist(), strict=True) if s > cut}
    lo = {pid: s for pid, s in zip(local.ids.tolist(), local.scores.tolist(), strict=True) if s > cut}
    assert m.keys() == lo.keys()
    for pid in m:
        assert abs(m[pid] - lo[pid]) <= atol, pid
    assert list(milvus.scores) == sorted(milvus.scores, reverse=True)
    return len(m)


def test_sentence_search_matches_the_local_backend(milvus_kb: KnowledgeBase, hashing_encoder: HashingEncoder, tmp_path: Path) -> None:
    kb = milvus_kb
    milvus, local = _indexes(kb, tmp_path / "index")
    assert milvus.sentence_count() == len(kb.store.sentence_vectors(384)[0]) > 100
    long_passages, qvecs = _queries(kb, hashing_encoder)
    report_year = kb.document(kb.store.passages([int(kb.store.sentence_vectors(384)[0][0])])[0].doc_id).year
    settings = [Filters(), Filters(doc_type="regulation"), Filters(doc_type="report"), Filters(year=report_year),
                Filters(regulation="实验动物管理条例")]
    compared = 0
    for filters in settings:
        for k in (5, 30):
            got, want = milvus.search_sentences(qvecs, k, filters), local.search_sentences(qvecs, k, filters)
            assert len(got) == len(want) == len(qvecs)
            compared += sum(_assert_same(m, lo) for m, lo in zip(got, want, strict=True))
    assert compared > 300
    # a sentence of a long paragraph, asked alone: that paragraph first, at the sentence's own score
    for pid, found in zip(long_passages, milvus.search_sentences(qvecs[len(TOPICS):], 5, Filters()), strict=True):
        assert found.ids[0] == pid and found.scores[0] > 0.99


def test_sentence_search_keeps_to_the_filters(milvus_kb: KnowledgeBase, hashing_encoder: HashingEncoder) -> None:
    kb = milvus_kb
    kb.searcher.refresh()
    milvus = kb.searcher.vectors
    assert isinstance(milvus, MilvusIndex)
    meta = {r["id"]: r for r in kb.store.passage_meta()}
    _, qvecs = _queries(kb, hashing_encoder)
    years = {r["year"] for r in meta.values() if r["doc_type"] == "report"}
    year = next(iter(years))
    for filters, ok in [
        (Filters(doc_type="regulation"), lambda r: r["doc_type"] == "regulation"),
        (Filters(doc_type="report"), lambda r: r["doc_type"] == "report"),
        (Filters(year=year), lambda r: r["year"] == year),
    ]:
        found = milvus.search_sentences(qvecs, 20, filters)
        assert any(len(c.ids) for c in found)
        assert all(ok(meta[pid]) for c in found for pid in c.ids.tolist()), filters
    assert not any(len(c.ids) for c in milvus.search_sentences(qvecs, 20, Filters(year=1990)))


def test_a_removed_or_replaced_document_leaves_no_sentence_rows(
    milvus_kb: KnowledgeBase, corpus: Path, hashing_encoder: HashingEncoder,
) -> None:
    kb = milvus_kb
    milvus = kb.components.syncers["vectors"]
    assert isinstance(milvus, MilvusIndex)
    lab = next(d.id for d in kb.documents() if d.path.endswith(Path(LAB).name))
    before, _ = kb.store.document_sentence_vectors(lab)
    assert len(before) and milvus.sentence_passages_of(lab) == before.tolist()
    qvecs = hashing_encoder.encode_queries(["实验动物许可证管理", "实验动物的饲养"])

    kb.remove([lab])
    assert milvus.sentence_passages_of(lab) == [] and milvus.ids_of(lab) == []
    assert_servers_agree(kb)
    assert not set(before.tolist()) & {pid for c in milvus.search_sentences(qvecs, 50, Filters()) for pid in c.ids.tolist()}

    # back again: its new passages' sentence rows, and only those
    assert kb.ingest([corpus / LAB], manifest=corpus / "manifest.csv").ok
    lab = next(d.id for d in kb.documents() if d.path.endswith(Path(LAB).name))
    again, _ = kb.store.document_sentence_vectors(lab)
    assert milvus.sentence_passages_of(lab) == again.tolist() and not set(again.tolist()) & set(before.tolist())
    assert_servers_agree(kb)
    hits = {pid for c in milvus.search_sentences(qvecs, 50, Filters()) for pid in c.ids.tolist()}
    assert hits & set(again.tolist()) and not hits & set(before.tolist())


def test_a_collection_synced_before_it_had_sentences_gets_them_without_its_passages(milvus_kb: KnowledgeBase) -> None:
    kb = milvus_kb
    milvus = kb.components.syncers["vectors"]
    assert isinstance(milvus, MilvusIndex)
    passages, sentences = milvus.count(), milvus.sentence_count()
    assert sentences > 100
    # what a collection synced by the code before sentence rows looks like: no sentence collection, no state for it
    milvus.client.drop_collection(milvus.sentence_collection)
    milvus._sentences_ready = False
    for name in kb.store.sync_state(milvus.sentence_target):
        kb.store.record_sync(milvus.sentence_target, name, None)
    answer = kb.sync()["vectors"]
    assert answer["vectors"] == 0 and answer["sentences"] == sentences
    assert milvus.count() == passages and milvus.sentence_count() == sentences
    assert kb.sync()["vectors"] == {"documents": 0, "removed": 0, "vectors": 0, "sentences": 0}
    assert_servers_agree(kb)


def test_a_store_without_sentence_vectors_writes_none_and_gets_them_later(
    corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder, servers: Servers,
) -> None:
    data = servers.configure(tmp_path / "data")
    with (data / "policykg.toml").open("a", encoding="utf-8") as f:
        f.write("\n[ingest]\nsentence_vectors = false\n")
    kb = KnowledgeBase(data, encoder=hashing_encoder)
    assert kb.ingest([corpus / LAB]).ok
    milvus = kb.components.syncers["vectors"]
    assert isinstance(milvus, MilvusIndex)
    assert milvus.count() == kb.store.counts()["passages"] and milvus.sentence_count() == 0
    assert not milvus.client.has_collection(milvus.sentence_collection)
    qvec = hashing_encoder.encode_queries(["实验动物许可证管理"])
    assert not len(milvus.search_sentences(qvec, 10, Filters())[0].ids)
    assert kb.search("实验动物许可证管理", k=5)  # topic queries still rank by whole passages
    kb.close()

    # turned on: the next ingest embeds the sentences, and the sync sends them, not the passages again
    (data / "policykg.toml").write_text((data / "policykg.toml").read_text(encoding="utf-8").replace("sentence_vectors = false", ""), encoding="utf-8")
    kb = KnowledgeBase(data, encoder=hashing_encoder)
    milvus = kb.components.syncers["vectors"]
    assert isinstance(milvus, MilvusIndex)
    sent: list[int] = []
    real = milvus.add

    def counting(rows, vectors):  # type: ignore[no-untyped-def]
        sent.append(len(rows))
        return real(rows, vectors)

    milvus.add = counting  # type: ignore[method-assign]
    assert kb.ingest([corpus / LAB]).unchanged
    rows, _ = kb.store.sentence_vectors(384)
    assert not sent and milvus.sentence_count() == len(rows) > 20
    assert_servers_agree(kb)
    kb.searcher.refresh()
    assert len(kb.searcher.vectors.search_sentences(qvec, 10, Filters())[0].ids) > 0
