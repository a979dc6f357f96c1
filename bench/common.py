"""What the bench scripts share: thread pinning, memory readings, timing with percentiles, the bench queries,
precomputed query vectors, copying a store, synthetic vectors, progress lines and one-line error texts.

Imported by the scripts as ``common`` (``python bench/x.py`` puts bench/ on sys.path).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import math
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
QUERIES_FILE = HERE / "data" / "queries.jsonl"  # the labelled bench queries: {"q": …, …} per line


# ------------------------------------------------------------------------------------ threads, memory


def pin_threads(threads: int) -> None:
    """Pin torch, faiss and BLAS/OpenMP to ``threads`` cores (the environment is inherited by subprocesses)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    with contextlib.suppress(ImportError):
        import faiss

        faiss.omp_set_num_threads(threads)
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(threads)


def rss_mb(pid: int | None = None, children: bool = False) -> float:
    """Resident memory of a process (this one by default), optionally with its children, in MiB."""
    import psutil

    try:
        process = psutil.Process(pid)
        total = process.memory_info().rss
        if children:
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += child.memory_info().rss
    except psutil.Error:
        return float("nan")
    return float(total) / 2**20


def peak_rss_mb() -> float:
    """Peak RSS of this process since the last :func:`reset_peak_rss` (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so a later peak excludes e.g. model loading."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def trim() -> None:
    """Collect garbage and hand freed heap back to the OS, so that RSS differences measure what is alive."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def dir_mb(path: Path) -> float:
    """Size of the files under ``path`` in MiB (0 if it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


# ---------------------------------------------------------------------------------------------- timing


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 99)) -> dict[str, float]:
    """``{"p50_ms": …, "p99_ms": …, "n": …}`` of samples in seconds (NaN when there are none)."""
    ms = np.asarray(samples, dtype=np.float64) * 1000
    out: dict[str, float] = {f"p{p}_ms": float(np.percentile(ms, p)) if len(ms) else math.nan for p in points}
    out["n"] = len(ms)
    return out


def timed(
    items: Sequence[Any], run: Callable[[Any], Any], *, warmup: int = 2, budget_s: float = math.inf, min_n: int = 3,
    out: list[Any] | None = None, points: Sequence[int] = (50, 99),
) -> dict[str, float]:
    """Percentiles of ``run`` over ``items`` one at a time, after ``warmup`` untimed calls; stops after
    ``budget_s`` seconds once ``min_n`` samples are in. The answers are appended to ``out``."""
    for item in items[:warmup]:
        run(item)
    samples: list[float] = []
    start = time.perf_counter()
    for item in items:
        t0 = time.perf_counter()
        answer = run(item)
        samples.append(time.perf_counter() - t0)
        if out is not None:
            out.append(answer)
        if len(samples) >= min_n and time.perf_counter() - start > budget_s:
            break
    return percentiles(samples, points)


# ----------------------------------------------------------------------------------------- inputs


def load_queries(n: int | None = None, path: Path = QUERIES_FILE) -> list[str]:
    """The first ``n`` (all: None) query texts of the bench queries."""
    with path.open(encoding="utf-8") as fh:
        queries = [json.loads(line)["q"] for line in fh if line.strip()]
    return queries[:n] if n else queries


def copy_store(source: Path, target: Path) -> Path:
    """Copy a data directory, without its server configuration (policykg.toml) and ingest lock: the bench
    opens only the copy, embedded."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("policykg.toml", "ingest.lock"))
    return target


class QueryVectors:
    """An encoder whose query vectors were computed beforehand (for queries asked many times, e.g. in a weights
    sweep); other queries and passages go to ``encoder``. Give a Searcher ``lambda: QueryVectors(…)``."""

    def __init__(self, encoder: Any, queries: Sequence[str]) -> None:
        self.encoder = encoder
        vectors = encoder.encode_queries(list(queries)) if queries else np.zeros((0, 0), np.float32)
        self.vectors: dict[str, np.ndarray] = dict(zip(queries, vectors, strict=True))

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.encoder.encode_queries(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts])

    def encode_passages(self, texts: Sequence[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return np.asarray(self.encoder.encode_passages(texts, batch_size=batch_size, show_progress=show_progress))


def synthetic_vectors(base: np.ndarray, n: int, sigma: float, seed: int = 42) -> np.ndarray:
    """``n`` vectors: passage ``i`` is real passage ``i % len(base)`` + N(0, sigma) noise, renormalised."""
    rng = np.random.default_rng(seed)
    vecs = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 65536):
        stop = min(n, start + 65536)
        chunk = base[np.arange(start, stop) % len(base)]
        chunk += rng.standard_normal(chunk.shape, dtype=np.float32) * sigma
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        vecs[start:stop] = chunk
    return vecs


# ------------------------------------------------------------------------------------------ output


def log(msg: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def error_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (cut to ``limit`` characters), for a result's "error" field."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:limit]}"
