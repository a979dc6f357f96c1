"""The searcher's passage cache, its sentence vectors and its year diversity (fast: the stand-in encoder)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from policykg.api.config import Config, IngestConfig
from policykg.api.kb import KnowledgeBase
from policykg.ingest.passages import sentence_texts
from policykg.search.evaluation import Judge, Judged, load_queries
from policykg.search.filters import Filters
from policykg.search.local_index import SENTENCES_FILE, LocalIndex
from policykg.search.milvus import MilvusIndex
from policykg.search.searcher import Hit
from tests.conftest import FOUNDING, HashingEncoder


def test_passages_are_read_once_and_follow_a_replaced_document(
    founding_kb: KnowledgeBase, corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder,
    data_dir_for: Callable[[Path], Path],
) -> None:
    data = tmp_path / "copy"
    shutil.copytree(founding_kb.data_dir, data)
    kb = KnowledgeBase(data_dir_for(data), encoder=hashing_encoder)  # (its own servers, if any)
    kb.sync()
    searcher = kb.searcher
    reads: list[int] = []
    store_passages = kb.store.passages

    def counting(ids=None):  # type: ignore[no-untyped-def]
        reads.extend(ids or [])
        return store_passages(ids)

    kb.store.passages = counting  # type: ignore[method-assign]
    first = kb.search("现场检查", k=5)
    assert any("现场检查40次" in h.text for h in first)
    once = len(reads)
    assert once and len(set(reads)) == once  # the second stage and the hits share one read per passage
    assert [h.text for h in kb.search("现场检查", k=5)] == [h.text for h in first]
    assert len(reads) == once  # the same query again: every text from the cache

    src = tmp_path / "report.txt"
    text = (corpus / FOUNDING).read_text(encoding="utf-8")
    src.write_text(text.replace("现场检查40次", "现场检查41次"), encoding="utf-8")
    before = searcher._generation
    assert kb.ingest([src], metadata=None).added
    assert kb.store.generation() != before
    hits = kb.search("现场检查", k=5)
    assert any("现场检查41次" in h.text for h in hits)
    assert kb.store.passages([h.passage_id for h in hits])  # served ids exist in the store


def test_sentence_vectors_are_stored_indexed_and_filled_for_an_older_store(
    founding_kb: KnowledgeBase, tmp_path: Path, hashing_encoder: HashingEncoder, data_dir_for: Callable[[Path], Path],
) -> None:
    data = tmp_path / "copy"
    shutil.copytree(founding_kb.data_dir, data)
    kb = KnowledgeBase(data_dir_for(data), encoder=hashing_encoder)  # (its own servers, if any)
    kb.sync()
    rows, vectors = kb.store.sentence_vectors(384)
    passages = {p.id: p for p in kb.store.passages()}
    assert len(rows) > len(set(rows.tolist())) > 10  # several sentences for each passage that has any
    for pid in set(rows.tolist()):  # every row is one sentence of its passage, as the encoder saw it
        expected = hashing_encoder.encode_passages(sentence_texts(passages[pid]))
        np.testing.assert_allclose(vectors[rows == pid], expected, atol=1e-6)

    # a store written before sentence vectors: nothing stored for them; the next ingest run embeds them
    with kb.store.transaction() as con:
        con.execute("UPDATE passages SET sentence_vectors = NULL")
    assert len(kb.store.passages_without_sentence_vectors()) == len(passages)
    kb.ingest([])
    assert not kb.store.passages_without_sentence_vectors()
    again, again_vectors = kb.store.sentence_vectors(384)
    assert again.tolist() == rows.tolist() and np.allclose(again_vectors, vectors)

    index = kb.searcher.vectors
    pid = int(rows[0])
    sentence = sentence_texts(passages[pid])[1]
    qvec = hashing_encoder.encode_queries([sentence])
    # one sentence of a long paragraph, asked as a topic: the paragraph comes first by that sentence alone
    found = index.search_sentences(qvec, 5, Filters())[0]
    assert found.ids[0] == pid and found.scores[0] > 0.99
    if isinstance(index, LocalIndex):
        # the sentence rows are kept in fp16: half the memory, each score within 5e-4 of the exact one
        import faiss

        assert (index.directory / SENTENCES_FILE).exists() and index.sentences is not None
        assert isinstance(faiss.downcast_index(index.sentences.index.index), faiss.IndexScalarQuantizer)  # type: ignore[attr-defined]
    else:  # Milvus: a sentence collection beside the passages'
        assert isinstance(index, MilvusIndex) and index.sentence_count() == len(rows)
    exact = {p: float((vectors[rows == p] @ qvec[0]).max()) for p in found.ids.tolist()}
    np.testing.assert_allclose(found.scores, [exact[p] for p in found.ids.tolist()], atol=5e-4)
    assert len(set(found.ids.tolist())) == len(found.ids)  # a passage once, at its best sentence
    doc_type = "report" if kb.document(passages[pid].doc_id).doc_type == "report" else "regulation"
    other = "regulation" if doc_type == "report" else "report"
    assert pid not in index.search_sentences(qvec, 50, Filters(doc_type=other))[0].ids.tolist()
    assert kb.search(sentence, k=1)[0].passage_id == pid


def test_questions_are_scored_by_whole_passages_only(founding_kb: KnowledgeBase) -> None:
    index = founding_kb.searcher.vectors
    calls: list[int] = []
    real = index.search_sentences

    def counting(queries, k, filters):  # type: ignore[no-untyped-def]
        calls.append(k)
        return real(queries, k, filters)

    index.search_sentences = counting  # type: ignore[method-assign]
    try:
        founding_kb.search("实验动物的饲养可以不申请许可证吗？")
        assert not calls
        founding_kb.search("实验动物许可证管理")
        assert calls
    finally:
        del index.search_sentences


def test_sentence_vectors_can_be_turned_off_and_filled_later(
    corpus: Path, tmp_path: Path, hashing_encoder: HashingEncoder,
) -> None:
    regulation = corpus / "regulations" / "shiyan-dongwu-guanli-tiaoli.md"
    off = Config(data_dir=tmp_path, ingest=IngestConfig(sentence_vectors=False))
    kb = KnowledgeBase(tmp_path, config=off, encoder=hashing_encoder)
    assert kb.ingest([corpus / FOUNDING, regulation]).ok
    assert not len(kb.store.sentence_vectors(384)[0])
    waiting = kb.store.passages_without_sentence_vectors()
    assert len(waiting) == kb.store.counts()["passages"]
    assert kb.ingest([corpus / FOUNDING]).unchanged  # still off: nothing embedded
    assert len(kb.store.passages_without_sentence_vectors()) == len(waiting)
    kb.close()

    on = KnowledgeBase(tmp_path, config=Config(data_dir=tmp_path), encoder=hashing_encoder)
    assert on.ingest([regulation]).unchanged
    rows, _ = on.store.sentence_vectors(384)
    assert not on.store.passages_without_sentence_vectors()
    assert set(rows.tolist()) == {p.id for p in waiting if sentence_texts(p)}


def test_catalog_maps_passages_to_documents_once_per_generation(founding_kb: KnowledgeBase) -> None:
    founding_kb.search("实验动物")  # loads the catalog
    catalog = founding_kb.searcher.catalog
    doc_of = catalog.documents_of()
    assert doc_of is catalog.documents_of()  # built once, not on every query naming a regulation
    assert set(doc_of) == {p.id for p in founding_kb.store.passages()}
    some = {doc_of[next(iter(doc_of))]}
    assert catalog.passages_of(some) == {pid for pid, d in doc_of.items() if d in some} != set()
    assert catalog.passages_of(set()) == set() and catalog.passages_of({"no-such-document"}) == set()
@pytest.fixture(scope="module")
def state_council_kb(corpus: Path, tmp_path_factory: pytest.TempPathFactory, hashing_encoder: HashingEncoder) -> KnowledgeBase:
    """Five State Council work reports (2018-2022, reviewing 2017-2021) by the manifest, stand-in encoder."""
    kb = KnowledgeBase(tmp_path_factory.mktemp("state-council"), encoder=hashing_encoder)
    report = kb.ingest([corpus / f"reports/gov-work/state-council-gwr-{y}.txt" for y in range(2018, 2023)], manifest=corpus / "manifest.csv")
    assert report.ok, report.failed
    return kb


def _own_query(qid: str) -> Judged:
    """A labelled query of bench/data/queries.jsonl."""
    return next(q for q in load_queries(Path(__file__).resolve().parents[2] / "bench" / "data" / "queries.jsonl") if q.id == qid)


def _without_and_with(kb: KnowledgeBase, query: str, **off: Any) -> tuple[list[Hit], list[Hit]]:
    """The top 10 for ``query`` with the weights ``off`` set (a stage switched off), then with the shipped ones."""
    shipped = kb.searcher.weights
    try:
        kb.searcher.weights = replace(shipped, **off)
        without = kb.search(query, k=10)
    finally:
        kb.searcher.weights = shipped
    return without, kb.search(query, k=10)


def _labelled_ranks(kb: KnowledgeBase, query: Judged, hits: list[Hit]) -> list[int]:
    """The positions of ``hits`` that are labelled for ``query``."""
    judge = Judge(kb.documents(), lambda d: kb.document(d).text)
    return [i for i, h in enumerate(hits) if any(judge.matches(h, item) for item in query.relevant)]


def test_year_diversity_brings_a_labelled_year_into_the_top_10(state_council_kb: KnowledgeBase) -> None:
    kb = state_council_kb
    # q073 of bench/data/queries.jsonl, labelled with one passage per report: without diversity the top 10
    # holds five passages of the 2021 review, and the 2019 report's labelled passage is not in it
    query = _own_query("q073")
    assert kb.searcher.weights.year_diversity > 0
    plain, diverse = _without_and_with(kb, query.q, year_diversity=0.0)
    assert len(_labelled_ranks(kb, query, diverse)) > len(_labelled_ranks(kb, query, plain))

    def most_of_one_year(hits: list[Hit]) -> int:
        return max(sum(h.year == y for h in hits) for y in {h.year for h in hits})

    assert most_of_one_year(diverse) < most_of_one_year(plain)
    assert diverse[0].passage_id == plain[0].passage_id  # the best hit stays first
    assert [h.score for h in diverse] == sorted((h.score for h in diverse), reverse=True)
    # a query naming a year is not diversified (its years are the user's choice)
    named_plain, named = _without_and_with(kb, f"2018年{query.q}", year_diversity=0.0)
    assert [h.passage_id for h in named] == [h.passage_id for h in named_plain]


def test_a_paragraph_matching_in_one_sentence_gains_the_sentence_head_start(state_council_kb: KnowledgeBase) -> None:
    kb = state_council_kb
    # q066 of bench/data/queries.jsonl: its labelled passage of the 2020 report is a long paragraph on fiscal
    # policy (368 characters) that says 政府要过紧日子 in one of its sentences; it was third, behind a shorter
    # passage that matches as a whole
    query = _own_query("q066")
    assert kb.searcher.weights.sentence_offset > 0
    plain, ahead = _without_and_with(kb, query.q, sentence_offset=0.0)
    assert _labelled_ranks(kb, query, plain) == [0, 2] and _labelled_ranks(kb, query, ahead) == [0, 1]
    paragraph = ahead[1]
    assert len(paragraph.text) > 300 and "过紧日子" in paragraph.text
    assert len(sentence_texts(kb.store.passages([paragraph.passage_id])[0])) >= 5
