"""Train the query adapter (search/data/query_adapter.npz): a low-rank linear map on e5 query vectors.

    python bench/train_adapter.py --data DIR --cv            # 5-fold CV over the STARD dev questions (--grouped)
    python bench/train_adapter.py --data DIR                 # train on all of them, write the shipped file

``DIR`` holds a store of the whole corpus (``policykg ingest --manifest ../shared/corpus/manifest.csv``);
only its passage vectors and texts are read. Training data, shared data only:

- the STARD dev questions (``../shared/corpus/eval/stard-minfadian-dev.json``) → their labelled 民法典 articles;
- pairs the corpus gives for free: a measure title → its passage, a section heading → the passages under it,
  a chapter title → its articles, an article's first sentence → the article.

The map is ``y = x + U Vᵀ x`` (``--rank`` r; ``--rank 0``: a full ``W``), optionally plus a bias, starting
at the identity. The loss: InfoNCE (temperature ``--tau``) of each STARD question against its articles and
the 256 passages nearest to it under the plain encoder; an *anchor*, ``--anchor`` ×
KL(plain ‖ adapted) of the softmax over every passage for the free-pair queries (headings and titles: they
keep topic phrases where the plain encoder puts them; without it the map pulls every query toward
民法典); ``--free`` × InfoNCE on the free pairs themselves (measured no help: 0 by default); and
``--reg`` × (‖W − I‖² + ‖b‖²). The maps of ``--seeds`` seeds are averaged (rank 3 × 32, 268 KiB); the
defaults are the setting chosen by ``--cv``. Query vectors are encoded
once and cached (``--cache``); training runs on the vectors (torch, CPU, 1 thread). ``--cv`` prints, per
setting and epoch, the fold-averaged held-out dense R@10 / MRR@10 over all passages (and over regulations
only) on the STARD dev questions, and on bench/data/queries.jsonl (never trained on; all, and its lay
questions), with the figures without the adapter above them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from policykg.graph.store import SQLiteStore
from policykg.search.adapter import DEFAULT_ADAPTER, QueryAdapter
from policykg.search.encoders import DEFAULT_MODEL, load_encoder
from policykg.search.evaluation import Judge, load_queries, score
from policykg.search.searcher import Hit

from common import QUERIES_FILE

STARD_FILE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "eval" / "stard-minfadian-dev.json"
MINFADIAN = "中华人民共和国民法典"
K = 10


@dataclass
class Corpus:
    """Every passage of the store: ids, vectors (n×d, L2-normalised) and the fields the pairs need."""

    ids: np.ndarray
    vectors: np.ndarray
    doc_id: list[str]
    article: list[str | None]
    text: list[str]
    start: np.ndarray
    end: np.ndarray
    regulation: np.ndarray  # bool: passage of a regulation

    def row_of(self) -> dict[int, int]:
        return {int(pid): i for i, pid in enumerate(self.ids)}


@dataclass
class Example:
    """One training or test query: its text and the rows of its relevant passages."""

    text: str
    positives: list[int]
    source: str  # "stard", "measure", "section", "chapter", "sentence"
    labels: tuple[str, ...] = ()


def load_corpus(store: SQLiteStore) -> Corpus:
    """The store's passages with vectors, in id order."""
    dim = store.vector_dim() or 384
    ids, vecs = store.passage_vectors(dim)
    passages = {p.id: p for p in store.passages()}
    doc_type = {d.id: d.doc_type for d in store.documents()}
    rows = [passages[int(i)] for i in ids]
    return Corpus(
        ids=ids, vectors=vecs, doc_id=[p.doc_id for p in rows], article=[p.article for p in rows],
        text=[p.text for p in rows], start=np.array([p.start for p in rows]), end=np.array([p.end for p in rows]),
        regulation=np.array([doc_type.get(p.doc_id) == "regulation" for p in rows]),
    )


def stard_examples(store: SQLiteStore, corpus: Corpus, path: Path = STARD_FILE) -> list[Example]:
    """The STARD dev questions, each with the rows of its labelled 民法典 articles."""
    docs = [r.doc_id for r in store.regulations() if r.name == MINFADIAN and r.doc_id]
    if not docs:
        raise SystemExit(f"the store holds no {MINFADIAN}")
    doc = docs[0]
    row = {a: i for i, (d, a) in enumerate(zip(corpus.doc_id, corpus.article, strict=True)) if d == doc and a}
    out = []
    for q in json.loads(path.read_text(encoding="utf-8")):
        labels = tuple(name.removeprefix(MINFADIAN) for name in q["match_name"])
        positives = [row[a] for a in labels if a in row]
        if positives:
            out.append(Example(q["问题"], positives, "stard", labels))
    return out


_NUMBERING = re.compile(r"^(第[一二三四五六七八九十百零]+[章节编]|[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.．、])\s*")
_SENTENCE = re.compile(r"[^。；！？\n]{8,}?[。；！？]")


def _title(text: str) -> str:
    return _NUMBERING.sub("", text.strip()).replace(" ", "").replace("\u3000", "").strip("。；：:")


def free_examples(store: SQLiteStore, corpus: Corpus) -> list[Example]:
    """Pairs the corpus gives for free: measure title → passage, heading → passages under it, chapter title →
    its articles, an article's first sentence → the article."""
    by_doc: dict[str, list[int]] = {}
    for i, d in enumerate(corpus.doc_id):
        by_doc.setdefault(d, []).append(i)
    out: list[Example] = []

    def overlapping(doc: str, start: int, end: int) -> list[int]:
        return [i for i in by_doc.get(doc, []) if corpus.start[i] < end and start < corpus.end[i]]

    for m in store.measures():
        rows = overlapping(m.doc_id, m.start, m.end)
        title = _title(m.title)
        if rows and len(title) >= 4:
            best = max(rows, key=lambda i: min(int(corpus.end[i]), m.end) - max(int(corpus.start[i]), m.start))
            out.append(Example(title, [best], "measure"))
    sections = store.con.execute("SELECT doc_id, title, start, \"end\" FROM sections").fetchall()
    for s in sections:
        title = _title(s["title"] or "")
        rows = [i for i in overlapping(s["doc_id"], s["start"], s["end"]) if len(corpus.text[i]) > len(title) + 30]
        if rows and len(title) >= 4:
            out.append(Example(title, rows[:8], "section"))
    chapters: dict[str, set[int]] = {}
    row = {(d, a): i for i, (d, a) in enumerate(zip(corpus.doc_id, corpus.article, strict=True)) if a}
    groups: dict[str, set[tuple[str, str]]] = {}
    for a in store.articles():
        found = row.get((a.doc_id, a.label))
        if found is None:
            continue
        i = found
        title = _title(a.chapter or "")
        if len(title) >= 4:
            chapters.setdefault(title, set()).add(i)
            groups.setdefault(title, set()).add((a.doc_id, a.chapter or ""))
        body = corpus.text[i].removeprefix(a.label).strip()
        first = _SENTENCE.match(body)
        if first:
            out.append(Example(first.group(0), [i], "sentence"))
    for title, rows_ in chapters.items():
        if len(groups[title]) == 1:  # a title many chapters share (一般规定, 法律责任) names no topic
            out.append(Example(title, sorted(rows_), "chapter"))
    return out


ENCODED_BY: set[str] = set()  # the encoders (name@backend) behind the query vectors used


def encode(texts: Sequence[str], cache: Path | None) -> np.ndarray:
    """Query vectors (``query: `` prompt, the default encoder and backend), cached in ``cache`` across runs."""
    known: dict[str, np.ndarray] = {}
    by = ""
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            known = dict(zip(z["texts"].tolist(), z["vectors"], strict=True))
            by = str(z["encoder"]) if "encoder" in z.files else "unrecorded"
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    if missing:
        t0 = time.perf_counter()
        encoder = load_encoder(DEFAULT_MODEL)
        name = str(getattr(encoder, "name", DEFAULT_MODEL))
        if by and by != name:  # never mix the vectors of two backends
            known, missing, by = {}, list(dict.fromkeys(texts)), ""
        vecs = encoder.encode_queries(missing)
        print(f"encoded {len(missing)} queries with {name} in {time.perf_counter() - t0:.0f} s")
        known.update(zip(missing, vecs, strict=True))
        by = name
        if cache is not None:
            np.savez(cache, texts=np.array(list(known)), vectors=np.stack(list(known.values())), encoder=np.array(by))
    ENCODED_BY.add(by)
    return np.stack([known[t] for t in texts]).astype(np.float32)


# ------------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class Setting:
    """Hyper-parameters of one training run."""

    rank: int = 32  # 0: a full W
    reg: float = 0.3
    tau: float = 0.05
    free: float = 0.0  # weight of a free pair against a STARD question
    mix: float = 1.0  # free pairs drawn per epoch, per STARD question
    anchor: float = 50.0  # weight of KL(unadapted ‖ adapted) over all passages for the free-pair queries
    bias: bool = False  # learn a bias b (a shift shared by every query)
    negatives: int = 256  # the hardest passages (by the unadapted score) each query is contrasted with
    lr: float = 2e-3
    epochs: int = 30
    batch: int = 64

    def label(self) -> str:
        kind = f"I+UV^T r={self.rank}" if self.rank else "full W"
        return f"{kind} reg={self.reg:g} tau={self.tau:g} free={self.free:g}x{self.mix:g} lr={self.lr:g}{'' if self.bias else ' nobias'} anchor={self.anchor:g}"


def candidates(
    queries: np.ndarray, examples: Sequence[Example], passages: np.ndarray, m: int, max_positives: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, ``m`` passage rows: its positives (at most ``max_positives``), then the hardest negatives by
    the unadapted score; and the mask of the positives among them."""
    cand = np.empty((len(examples), m), np.int64)
    pos = np.zeros((len(examples), m), bool)
    for start in range(0, len(examples), 512):
        sims = queries[start : start + 512] @ passages.T
        top = np.argsort(-sims, axis=1)[:, : m + max_positives]
        for j, rows in enumerate(top):
            e = examples[start + j]
            p = list(dict.fromkeys(e.positives))[:max_positives]
            taken = set(p)
            neg = [r for r in rows if r not in taken][: m - len(p)]
            cand[start + j] = p + neg
            pos[start + j, : len(p)] = True
    return cand, pos


def fit(
    setting: Setting, queries: np.ndarray, examples: Sequence[Example], passages: np.ndarray,
    *, seed: int = 0, every: int = 0, probe: Any = None,
) -> tuple[QueryAdapter, list[tuple[int, Any]]]:
    """Train one adapter; with ``every`` and ``probe``, call ``probe(adapter)`` after every ``every`` epochs
    (and return what it said per epoch)."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    d = passages.shape[1]
    P = torch.from_numpy(np.ascontiguousarray(passages, dtype=np.float32))
    X = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    weights = torch.tensor([1.0 if e.source == "stard" else setting.free for e in examples])
    is_stard = np.array([e.source == "stard" for e in examples])
    stard_rows, free_rows = np.flatnonzero(is_stard), np.flatnonzero(~is_stard)
    n_free = min(len(free_rows), int(setting.mix * len(stard_rows))) if setting.free > 0 else 0
    cand_np, pos_np = candidates(queries, examples, passages, setting.negatives)
    cand, pos_mask = torch.from_numpy(cand_np), torch.from_numpy(pos_np)
    bias = torch.zeros(d, requires_grad=setting.bias)
    if setting.rank:
        u = torch.zeros(d, setting.rank, requires_grad=True)
        v = (torch.randn(d, setting.rank) / d**0.5).requires_grad_(True)
        params = [u, v, bias] if setting.bias else [u, v]
    else:
        w = torch.eye(d).requires_grad_(True)
        params = [w, bias] if setting.bias else [w]
    opt = torch.optim.Adam(params, lr=setting.lr)
    eye = torch.eye(d)

    def delta() -> torch.Tensor:
        return u @ v.T if setting.rank else w - eye

    def current() -> QueryAdapter:
        with torch.no_grad():
            b = bias.detach().numpy().copy()
            if setting.rank:
                return QueryAdapter(bias=b, u=u.detach().numpy().copy(), v=v.detach().numpy().copy())
            return QueryAdapter(bias=b, weight=w.detach().numpy().copy())

    trace: list[tuple[int, Any]] = []
    for epoch in range(1, setting.epochs + 1):
        order = rng.permutation(np.concatenate([stard_rows, rng.choice(free_rows, n_free, replace=False)]))
        for start in range(0, len(order), setting.batch):
            idx = torch.from_numpy(order[start : start + setting.batch])
            x = X[idx]
            y = x + x @ delta().T + bias
            y = y / y.norm(dim=1, keepdim=True).clamp_min(1e-12)
            logits = torch.einsum("bd,bmd->bm", y, P[cand[idx]]) / setting.tau
            pos = logits.masked_fill(~pos_mask[idx], float("-inf"))
            loss_q = torch.logsumexp(logits, 1) - torch.logsumexp(pos, 1)
            wq = weights[idx]
            loss = (loss_q * wq).sum() / wq.sum()
            if setting.anchor > 0 and len(free_rows):
                a_idx = torch.from_numpy(rng.choice(free_rows, min(setting.batch, len(free_rows)), replace=False))
                xa = X[a_idx]
                ya = xa + xa @ delta().T + bias
                ya = ya / ya.norm(dim=1, keepdim=True).clamp_min(1e-12)
                with torch.no_grad():
                    teacher = torch.log_softmax((xa @ P.T) / setting.tau, 1)
                student = torch.log_softmax((ya @ P.T) / setting.tau, 1)
                kl = (teacher.exp() * (teacher - student)).sum(1).mean()
                loss = loss + setting.anchor * kl
            reg = (delta() ** 2).sum() + (bias**2).sum()
            loss = loss + setting.reg * reg * len(idx) / len(order)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if every and probe is not None and epoch % every == 0:
            trace.append((epoch, probe(current())))
    info = {"model": DEFAULT_MODEL, "kind": "low-rank" if setting.rank else "full", **setting.__dict__}
    final = current()
    return QueryAdapter(bias=final.bias, weight=final.weight, u=final.u, v=final.v, info=info), trace


def average(adapters: Sequence[QueryAdapter]) -> QueryAdapter:
    """The mean of several maps (``I + mean(U_i V_iᵀ)``, kept as one low-rank pair; or the mean full W)."""
    k = len(adapters)
    bias = np.mean([a.bias for a in adapters], axis=0)
    info = {**adapters[0].info, "seeds": k}
    if adapters[0].weight is not None:
        return QueryAdapter(bias=bias, weight=np.mean([a.weight for a in adapters if a.weight is not None], axis=0), info=info)
    u = np.concatenate([a.u for a in adapters if a.u is not None], axis=1) / k
    v = np.concatenate([a.v for a in adapters if a.v is not None], axis=1)
    return QueryAdapter(bias=bias, u=u, v=v, info=info)


def fit_average(
    setting: Setting, queries: np.ndarray, examples: Sequence[Example], passages: np.ndarray, seeds: int, first: int = 0,
) -> QueryAdapter:
    """Train ``seeds`` adapters (seeds ``first``, ``first + 1``, …) and average them (less variance)."""
    return average([fit(setting, queries, examples, passages, seed=first + s)[0] for s in range(seeds)])


# ---------------------------------------------------------------------------------------- evaluation


def top_rows(queries: np.ndarray, passages: np.ndarray, mask: np.ndarray | None = None, k: int = K) -> np.ndarray:
    """Rows of the ``k`` nearest passages per query (inner product), best first."""
    sims = queries @ passages.T
    if mask is not None:
        sims[:, ~mask] = -np.inf
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def rank_metrics(top: np.ndarray, examples: Sequence[Example]) -> tuple[float, float]:
    """Mean R@k (found / min(#relevant, k)) and MRR@k."""
    recall = mrr = 0.0
    for rows, e in zip(top, examples, strict=True):
        hits = [r for r, row in enumerate(rows, 1) if row in set(e.positives)]
        recall += len(hits) / min(len(set(e.positives)), K)
        mrr += 1.0 / hits[0] if hits else 0.0
    return recall / len(examples), mrr / len(examples)


class BenchSet:
    """The lead's labelled queries (bench/data/queries.jsonl), scored as bench/search_quality.py scores them."""

    def __init__(self, store: SQLiteStore, corpus: Corpus, cache: Path | None, path: Path = QUERIES_FILE) -> None:
        self.queries = load_queries(path)
        self.judge = Judge(store.documents(), lambda d: store.document(d).text)  # type: ignore[union-attr]
        self.corpus = corpus
        self.vectors = encode([q.q for q in self.queries], cache)

    def hits(self, rows: np.ndarray) -> list[Hit]:
        c = self.corpus
        return [
            Hit(c.doc_id[r], "", None, None, "", "", c.article[r], c.text[r], int(c.start[r]), int(c.end[r]), 0.0, int(c.ids[r]))
            for r in rows
        ]

    def metrics(self, adapter: QueryAdapter | None) -> tuple[float, float, float, float]:
        """R@10, MRR@10 over all the queries, then over the lay questions alone."""
        q = adapter(self.vectors) if adapter is not None else self.vectors
        top = top_rows(q, self.corpus.vectors)
        hits = [self.hits(rows) for rows in top]
        m = score(self.queries, hits, self.judge)
        lay = [i for i, x in enumerate(self.queries) if x.kind == "lay"]
        m_lay = score([self.queries[i] for i in lay], [hits[i] for i in lay], self.judge)
        return m["recall@10"], m["mrr@10"], m_lay["recall@10"], m_lay["mrr@10"]


def folds(examples: Sequence[Example], k: int, grouped: bool, seed: int = 0) -> list[np.ndarray]:
    """Indices of each fold's test questions: random, or (``grouped``) keeping questions that share a labelled
    article in one fold (connected components, dealt largest first to the smallest fold)."""
    rng = np.random.default_rng(seed)
    n = len(examples)
    if not grouped:
        perm = rng.permutation(n)
        return [np.sort(perm[f::k]) for f in range(k)]
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[int, int] = {}
    for i, e in enumerate(examples):
        for p in e.positives:
            if p in first:
                parent[find(i)] = find(first[p])
            else:
                first[p] = i
    comps: dict[int, list[int]] = {}
    for i in range(n):
        comps.setdefault(find(i), []).append(i)
    groups = sorted(comps.values(), key=lambda g: (-len(g), rng.random()))
    out: list[list[int]] = [[] for _ in range(k)]
    for g in groups:
        min(out, key=len).extend(g)
    print(f"grouped folds: {len(groups)} groups, largest {len(groups[0])}, fold sizes {[len(f) for f in out]}")
    return [np.sort(np.array(f)) for f in out]


def cross_validate(
    settings: Sequence[Setting], stard: list[Example], stard_q: np.ndarray, free: list[Example], free_q: np.ndarray,
    corpus: Corpus, bench: BenchSet, k: int, grouped: bool, every: int, seeds: int = 1,
) -> None:
    """Fold-averaged held-out figures per setting and epoch, with the identity (no adapter) beside them."""
    split = folds(stard, k, grouped)
    mask_reg = corpus.regulation
    base_all = rank_metrics(top_rows(stard_q, corpus.vectors), stard)
    base_reg = rank_metrics(top_rows(stard_q, corpus.vectors, mask_reg), stard)
    base_bench = bench.metrics(None)
    print(f"\n{k}-fold CV ({'grouped by shared articles' if grouped else 'random'}), {len(stard)} STARD dev questions, "
          f"{len(free)} free pairs; dense only, R@10 / MRR@10")
    print(f"no adapter: STARD all passages {base_all[0]:.3f} / {base_all[1]:.3f}, regulations only {base_reg[0]:.3f} / "
          f"{base_reg[1]:.3f}; 88 bench queries {base_bench[0]:.3f} / {base_bench[1]:.3f} (36 lay: {base_bench[2]:.3f} / {base_bench[3]:.3f})")
    header = f"{'setting':76} {'ep':>3} {'STARD all':>13} {'STARD reg':>13} {'88 queries':>13} {'36 lay':>13} {'train s':>7}"
    print(header)
    for setting in settings:
        per_epoch: dict[int, list[tuple[float, ...]]] = {}
        seconds = 0.0
        for test in split:
            train = np.setdiff1d(np.arange(len(stard)), test)
            examples = [stard[i] for i in train] + free
            queries = np.concatenate([stard_q[train], free_q]) if len(free) else stard_q[train]
            held = [stard[i] for i in test]
            held_q = stard_q[test]

            def probe(adapter: QueryAdapter, held: list[Example] = held, held_q: np.ndarray = held_q) -> tuple[float, ...]:
                q = adapter(held_q)
                a = rank_metrics(top_rows(q, corpus.vectors), held)
                r = rank_metrics(top_rows(q, corpus.vectors, mask_reg), held)
                return (*a, *r, *bench.metrics(adapter))

            t0 = time.perf_counter()
            if seeds > 1:  # the average of several seeds, measured at the last epoch only
                trace = [(setting.epochs, probe(fit_average(setting, queries, examples, corpus.vectors, seeds)))]
            else:
                _, trace = fit(setting, queries, examples, corpus.vectors, every=every, probe=probe)
            seconds += time.perf_counter() - t0
            for epoch, m in trace:
                per_epoch.setdefault(epoch, []).append(m)
        for epoch, ms in sorted(per_epoch.items()):
            a = np.mean(ms, axis=0)
            print(f"{setting.label() + (f' avg of {seeds} seeds' if seeds > 1 else ''):76} {epoch:3d} {a[0]:6.3f} {a[1]:6.3f} {a[2]:6.3f} {a[3]:6.3f} {a[4]:6.3f} {a[5]:6.3f} "
                  f"{a[6]:6.3f} {a[7]:6.3f} "
                  f"{seconds / len(split):7.1f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("policykg-data"))
    ap.add_argument("--stard", type=Path, default=STARD_FILE)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/policykg-adapter-queries.npz"), help="query vectors cache")
    ap.add_argument("--cv", action="store_true", help="cross-validate the settings instead of writing the adapter")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--grouped", action="store_true", help="keep questions sharing an article in one fold")
    ap.add_argument("--every", type=int, default=5, help="CV: report every N epochs")
    ap.add_argument("--rank", type=int, nargs="+", default=[32], help="rank of U Vᵀ (0: a full W)")
    ap.add_argument("--reg", type=float, nargs="+", default=[0.3])
    ap.add_argument("--tau", type=float, nargs="+", default=[0.05])
    ap.add_argument("--free", type=float, nargs="+", default=[0.0], help="weight of the free pairs as InfoNCE targets (0: none)")
    ap.add_argument("--mix", type=float, nargs="+", default=[1.0], help="free pairs drawn per epoch, per STARD question")
    ap.add_argument("--lr", type=float, nargs="+", default=[2e-3])
    ap.add_argument("--anchor", type=float, nargs="+", default=[50.0], help="weight of the KL anchor on free-pair queries")
    ap.add_argument("--bias", type=int, nargs="+", default=[0], help="1: learn a bias, 0: none")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0, help="first seed")
    ap.add_argument("--seeds", type=int, default=3, help="average the maps of this many seeds (CV: 1 shows every epoch)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: OpenMP spinning on a busy machine costs more than it gains)")
    ap.add_argument("--out", type=Path, default=DEFAULT_ADAPTER)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    store = SQLiteStore(args.data / "policykg.sqlite")
    corpus = load_corpus(store)
    stard = stard_examples(store, corpus, args.stard)
    free = free_examples(store, corpus)
    kinds = {s: sum(e.source == s for e in free) for s in ("measure", "section", "chapter", "sentence")}
    print(f"{len(corpus.ids)} passages; {len(stard)} STARD dev questions; free pairs {kinds}")
    stard_q = encode([e.text for e in stard], args.cache)
    free_q = encode([e.text for e in free], args.cache)
    bench = BenchSet(store, corpus, args.cache)
    settings = [
        Setting(rank=r, reg=g, tau=t, free=f, mix=m, lr=lr, bias=bool(b), anchor=an, epochs=args.epochs)
        for r, g, t, f, m, lr, b, an in itertools.product(
            args.rank, args.reg, args.tau, args.free, args.mix, args.lr, args.bias, args.anchor
        )
    ]
    if args.cv:
        cross_validate(settings, stard, stard_q, free, free_q, corpus, bench, args.folds, args.grouped, args.every, args.seeds)
        print(f"total {time.perf_counter() - t_start:.0f} s")
        return
    if len(settings) != 1:
        raise SystemExit("give one value per hyper-parameter to train the adapter to ship")
    t0 = time.perf_counter()
    examples = stard + free
    adapter = fit_average(settings[0], np.concatenate([stard_q, free_q]), examples, corpus.vectors, args.seeds, args.seed)
    adapter.info.update({"query_vectors": sorted(ENCODED_BY), "seed": args.seed, "stard_questions": len(stard), "free_pairs": len(free), "trained_on": "stard-minfadian-dev + corpus pairs"})
    adapter.save(args.out)
    train_s = time.perf_counter() - t0
    base = rank_metrics(top_rows(stard_q, corpus.vectors), stard)
    fitted = rank_metrics(top_rows(adapter(stard_q), corpus.vectors), stard)
    print(f"trained {settings[0].label()} epochs={settings[0].epochs} seeds={args.seeds} in {train_s:.0f} s (total {time.perf_counter() - t_start:.0f} s); "
          f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    print(f"STARD dev (seen in training, not a held-out figure) R@10 / MRR@10: {base[0]:.3f} / {base[1]:.3f} -> {fitted[0]:.3f} / {fitted[1]:.3f}")
    b0, b1 = bench.metrics(None), bench.metrics(adapter)
    print(f"88 bench queries (never trained on) R@10 / MRR@10: {b0[0]:.3f} / {b0[1]:.3f} -> {b1[0]:.3f} / {b1[1]:.3f}")


if __name__ == "__main__":
    main()
