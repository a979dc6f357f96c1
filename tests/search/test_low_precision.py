"""The low-precision (int8 onnxruntime) encoder, the default for the bundled model: its fidelity to fp32 on
real corpus text, the fall-back to fp32, a serving process without torch, and the atomic preparation of
the model cache."""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from policykg.api.config import load_config
from policykg.api.factory import configured_encoder
from policykg.ingest.protocols import Encoder
from policykg.search import encoders
from policykg.search.encoders import DEFAULT_MODEL, load_encoder
from policykg.search.model_cache import MARKER_FILE

slow = pytest.mark.slow
HEAVY_MODULES = ("torch", "transformers", "sentence_transformers")
ARTICLE = re.compile(r"^(第[一二三四五六七八九十百零〇]+条)\s*(.+)$", re.MULTILINE)


def _articles(corpus: Path, n: int) -> dict[str, str]:
    """The first ``n`` articles of 民法典 (label → text, as the ingest cuts them: one article a passage)."""
    text = (corpus / "regulations" / "minfadian.md").read_text(encoding="utf-8")
    found = {m.group(1): m.group(1) + " " + m.group(2) for m in ARTICLE.finditer(text)}
    return dict(list(found.items())[:n])


def _report_paragraphs(corpus: Path, n: int) -> list[str]:
    """Paragraphs of real government reports (≥ 40 characters), the other kind of passage."""
    out: list[str] = []
    for path in sorted((corpus / "reports").rglob("*.txt")):
        out += [p.strip() for p in path.read_text(encoding="utf-8").split("\n") if len(p.strip()) >= 40]
        if len(out) >= n:
            break
    return out[:n]


@pytest.fixture(scope="module")
def fp32() -> Encoder:
    return load_encoder(f"{DEFAULT_MODEL}@torch")


@pytest.fixture(scope="module")
def int8() -> Encoder:
    pytest.importorskip("onnxruntime")
    return load_encoder(f"{DEFAULT_MODEL}@onnx-int8")


# ------------------------------------------------------------------------------------ fidelity


@slow
def test_default_encoder_is_int8(encoder: Encoder, int8: Encoder) -> None:
    assert isinstance(encoder, encoders.OnnxEncoder)
    assert encoder is int8


@slow
def test_int8_vectors_match_fp32_on_corpus_passages(corpus: Path, fp32: Encoder, int8: Encoder) -> None:
    texts = list(_articles(corpus, 120).values()) + _report_paragraphs(corpus, 120)
    assert len(texts) == 240
    ours, ref = int8.encode_passages(texts), fp32.encode_passages(texts)
    assert ours.shape == ref.shape == (240, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cos = (ours * ref).sum(axis=1)
    assert cos.min() >= 0.99, (cos.min(), texts[int(cos.argmin())][:40])
    assert cos.mean() >= 0.997, cos.mean()


@slow
def test_int8_ranks_articles_as_fp32_for_lay_questions(corpus: Path, fp32: Encoder, int8: Encoder) -> None:
    """STARD questions against the first 300 articles of 民法典: nearly always the same best article (else
    one of fp32's top 3, a near tie), nearly the same top 10."""
    articles = _articles(corpus, 300)
    dev = json.loads((corpus / "eval" / "stard-minfadian-dev.json").read_text(encoding="utf-8"))
    questions = [
        q["问题"] for q in dev if all(name.removeprefix("中华人民共和国民法典") in articles for name in q["match_name"])
    ][:12]
    assert len(questions) == 12
    p_ours, p_ref = int8.encode_passages(list(articles.values())), fp32.encode_passages(list(articles.values()))
    q_ours, q_ref = int8.encode_queries(questions), fp32.encode_queries(questions)
    assert (q_ours * q_ref).sum(axis=1).min() >= 0.99
    same_first = 0
    for i, question in enumerate(questions):
        top_ours = np.argsort(-(p_ours @ q_ours[i]))[:10]
        top_ref = np.argsort(-(p_ref @ q_ref[i]))[:10]
        same_first += int(top_ours[0] == top_ref[0])
        assert top_ours[0] in top_ref[:3] and top_ref[0] in top_ours[:3], question
        assert len(set(top_ours) & set(top_ref)) >= 8, question
    assert same_first >= 10


@slow
def test_int8_batching_does_not_change_vectors(corpus: Path, int8: Encoder) -> None:
    """Length-bucketed batches: a text's vector does not depend on its neighbours or on the batch size."""
    texts = _report_paragraphs(corpus, 40)
    together = int8.encode_passages(texts, batch_size=16)
    alone = np.stack([int8.encode_passages([t])[0] for t in texts[:8]])
    assert (together[:8] * alone).sum(axis=1).min() >= 0.995
    reversed_ = int8.encode_passages(texts[::-1], batch_size=7)[::-1]
    assert (together * reversed_).sum(axis=1).min() >= 0.995


@slow
def test_int8_encoder_hands_back_its_batch_memory(corpus: Path, int8: Encoder) -> None:
    """A server that ingested an upload does not keep the memory its batches needed (onnxruntime's arena
    grows by ~1 GB over these 300 paragraphs and keeps it unless told to shrink)."""
    psutil = pytest.importorskip("psutil")
    texts = _report_paragraphs(corpus, 300)
    int8.encode_passages(texts[:1])  # the session's first-use allocations
    before = psutil.Process().memory_info().rss
    vectors = int8.encode_passages(texts, batch_size=32)
    grown = (psutil.Process().memory_info().rss - before) / 2**20
    assert vectors.shape == (300, 384)
    assert grown < 120, f"{grown:.0f} MiB kept after encoding 300 passages"


# ------------------------------------------------------------------------------------ fall-back


class _StubFp32:
    """Stands in for the torch encoder, so that the fall-back is seen without loading torch."""

    def __init__(self, model: str, *, threads: int | None = None) -> None:
        self.name = model


@pytest.mark.parametrize("name", [DEFAULT_MODEL, f"{DEFAULT_MODEL}@onnx-int8"])
def test_falls_back_to_fp32_without_onnxruntime(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("POLICYKG_EMBED_BACKEND", raising=False)
    monkeypatch.setattr(encoders, "onnx_available", lambda: False)
    monkeypatch.setattr(encoders, "SentenceTransformerEncoder", _StubFp32)
    with caplog.at_level(logging.WARNING, logger="policykg.search.encoders"):
        enc = encoders.make_encoder(name)
    assert isinstance(enc, _StubFp32) and enc.name == DEFAULT_MODEL
    assert "onnxruntime" in caplog.text and "fp32" in caplog.text


def test_falls_back_to_fp32_when_the_export_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(model: str, *, threads: int | None = None) -> None:
        raise RuntimeError("the int8 ONNX export failed (exit status 1)")

    monkeypatch.delenv("POLICYKG_EMBED_BACKEND", raising=False)
    monkeypatch.setattr(encoders, "onnx_available", lambda: True)
    monkeypatch.setattr(encoders, "OnnxEncoder", broken)
    monkeypatch.setattr(encoders, "SentenceTransformerEncoder", _StubFp32)
    with caplog.at_level(logging.WARNING, logger="policykg.search.encoders"):
        enc = encoders.make_encoder(DEFAULT_MODEL)
    assert isinstance(enc, _StubFp32)
    assert "export failed" in caplog.text


def test_fp32_is_one_setting_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "SentenceTransformerEncoder", _StubFp32)
    monkeypatch.setattr(encoders, "OnnxEncoder", lambda model, threads=None: pytest.fail("int8 was asked for"))
    monkeypatch.delenv("POLICYKG_EMBED_BACKEND", raising=False)
    assert isinstance(encoders.make_encoder(f"{DEFAULT_MODEL}@torch"), _StubFp32)
    monkeypatch.setenv("POLICYKG_EMBED_BACKEND", "torch")
    assert isinstance(encoders.make_encoder(DEFAULT_MODEL), _StubFp32)


# ------------------------------------------------------------------------------------ threads


class _StubInt8:
    """Stands in for the int8 encoder: records the threads it was built with."""

    made: ClassVar[list[int | None]] = []

    def __init__(self, model: str, *, threads: int | None = None) -> None:
        self.name, self.threads = model, threads
        _StubInt8.made.append(threads)


def test_configured_threads_reach_the_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``threads`` of policykg.toml (or POLICYKG_THREADS) is the encoder's, through the factory."""
    monkeypatch.delenv("POLICYKG_EMBED_BACKEND", raising=False)
    monkeypatch.setattr(encoders, "onnx_available", lambda: True)
    monkeypatch.setattr(encoders, "OnnxEncoder", _StubInt8)
    monkeypatch.setattr(encoders, "SentenceTransformerEncoder", _StubFp32)
    monkeypatch.setattr(encoders, "_cached_encoder", functools.cache(encoders._cached_encoder.__wrapped__))
    monkeypatch.setattr(_StubInt8, "made", [])
    (tmp_path / "policykg.toml").write_text("threads = 1\n", encoding="utf-8")
    config = load_config(tmp_path, environ={})
    assert config.threads == 1
    encoder = configured_encoder(config)
    assert isinstance(encoder, _StubInt8) and encoder.threads == 1
    assert configured_encoder(config) is encoder  # once per process and setting
    from_env = load_config(tmp_path, environ={"POLICYKG_THREADS": "2"})
    assert from_env.threads == 2 and configured_encoder(from_env).threads == 2
    assert configured_encoder(load_config(tmp_path / "elsewhere", environ={})).threads is None  # every core
    assert _StubInt8.made == [1, 2, None]


@slow
def test_threads_set_the_onnxruntime_session() -> None:
    pytest.importorskip("onnxruntime")
    encoder = encoders.make_encoder(f"{DEFAULT_MODEL}@onnx-int8", threads=1)
    assert isinstance(encoder, encoders.OnnxEncoder) and encoder.threads == 1
    assert encoder.session.get_session_options().intra_op_num_threads == 1


# ------------------------------------------------------------------------------------ no torch


def _python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, check=False,
    )  # fmt: skip


def test_importing_the_encoders_loads_no_torch() -> None:
    proc = _python(
        f"""
        import sys
        import policykg.search.encoders
        print([m for m in {HEAVY_MODULES!r} if m in sys.modules])
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@slow
def test_encoding_a_query_with_the_default_backend_loads_no_torch(int8: Encoder) -> None:
    """The serving process of the default (int8) path never imports torch, transformers or sentence-transformers."""
    proc = _python(
        f"""
        import sys
        from policykg.search.encoders import load_encoder
        enc = load_encoder()
        vec = enc.encode_queries(["个体工商户的债务由谁承担"])
        print(type(enc).__name__, vec.shape, [m for m in {HEAVY_MODULES!r} if m in sys.modules])
        """,
        env={"POLICYKG_EMBED_BACKEND": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "OnnxEncoder (1, 384) []"


# ------------------------------------------------------------------------------------ atomic preparation

_PREPARE = """
import sys, time
from pathlib import Path
from policykg.search.model_cache import ensure_model

cache, delay = Path(sys.argv[1]), float(sys.argv[2])

def build(tmp):
    with open(cache / "builds.log", "a") as fh:
        fh.write(f"{tmp.name}\\n")
    (tmp / "weights.bin").write_bytes(b"w" * 1_000_000)
    print("building", flush=True)
    time.sleep(delay)
    (tmp / "config.json").write_text("{}")

print(ensure_model(cache / "models" / "m", build, {"format": 1}, files=("weights.bin", "config.json"), label="a test model"))
"""


def _prepare(cache: Path, delay: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PREPARE, str(cache), str(delay)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _settled(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "models").iterdir() if not p.name.endswith(".lock"))


def test_concurrent_processes_prepare_once(tmp_path: Path) -> None:
    procs = [_prepare(tmp_path, 1.0) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    target = tmp_path / "models" / "m"
    assert [o[0].splitlines()[-1] for o in outs] == [str(target)] * 3
    assert len((tmp_path / "builds.log").read_text().splitlines()) == 1  # built once, the others waited
    assert _settled(tmp_path) == ["m"]
    assert (target / "weights.bin").stat().st_size == 1_000_000 and (target / MARKER_FILE).is_file()
    assert sum("preparing a test model" in o[1] for o in outs) == 1  # one progress line, on stderr


def test_killed_preparation_leaves_no_half_folder(tmp_path: Path) -> None:
    proc = _prepare(tmp_path, 60.0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "building"  # inside build(): a temp folder is half written
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (tmp_path / "models" / "m").exists()
    assert all(name.startswith(".m.tmp-") for name in _settled(tmp_path))
    again = _prepare(tmp_path, 0.0)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert _settled(tmp_path) == ["m"]  # the stale temp folder is gone, the model complete
    assert (tmp_path / "models" / "m" / "config.json").is_file()
    assert len((tmp_path / "builds.log").read_text().splitlines()) == 2


# ------------------------------------------------------------------------------------ ingest batching


def test_local_engine_encodes_a_window_of_documents_in_one_call(corpus: Path, hashing_encoder: Encoder) -> None:
    """Passages of several documents go to the encoder together (batched by length across documents);
    each document gets back its own vectors, in input order, as if embedded alone."""
    from policykg.ingest.engines import LocalEngine
    from policykg.ingest.metadata import Metadata
    from policykg.ingest.pipeline import DocumentStep, Embedded, Known
    from policykg.search.tokenize import Tokenizer

    calls: list[int] = []

    class Counting:
        def encode_passages(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
            calls.append(len(texts))
            return hashing_encoder.encode_passages(texts)

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            return hashing_encoder.encode_queries(texts)

    names = ["shiyan-dongwu-guanli-tiaoli.md", "renlei-yichuan-ziyuan-guanli-tiaoli-2019.md", "missing.md"]
    items = [(corpus / "regulations" / n, Metadata()) for n in names]
    step = DocumentStep(Tokenizer.from_regulations)
    out = list(LocalEngine(Counting).run(items, step, Known()))
    assert [p for p, _ in out] == [p for p, _ in items]
    first, second, missing = (r for _, r in out)
    assert isinstance(first, Embedded) and isinstance(second, Embedded) and isinstance(missing, str)

    def encoded(ready: Embedded) -> int:  # its passages, and the sentences of its passages of several
        return len(ready.prepared.extraction.passages) + sum(len(v) for v in ready.sentence_vectors if v is not None)

    assert calls == [encoded(first) + encoded(second)]
    for ready in (first, second):
        texts = [p.embed_text for p in ready.prepared.extraction.passages]
        assert ready.vectors is not None and ready.vectors.shape == (len(texts), 384)
        np.testing.assert_array_equal(ready.vectors, hashing_encoder.encode_passages(texts))
        assert len(ready.tokens) == len(texts) and all(ready.tokens)
    one_by_one = list(LocalEngine(Counting, window=1).run(items[:2], step, Known()))
    assert calls[1:] == [encoded(first), encoded(second)]
    assert [r.tokens for _, r in one_by_one] == [first.tokens, second.tokens]  # type: ignore[union-attr]


def test_export_child_keeps_freed_memory_unless_told(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-off export runs with glibc settings that spare it millions of page faults; a caller's own win."""
    from policykg.search import onnx_export

    seen: list[dict[str, str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        seen.append(dict(kwargs["env"]))  # type: ignore[call-overload]
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    onnx_export.export_onnx_int8(tmp_path / "src", tmp_path / "dest")
    assert seen[0]["MALLOC_MMAP_THRESHOLD_"] == str(4 << 30)
    assert seen[0]["MALLOC_TRIM_THRESHOLD_"] == "131072"
    assert seen[0]["PATH"] == os.environ["PATH"]
