"""The query adapter: a small linear map on query vectors, trained for lay questions → statutory articles.

Passage vectors stay as the bundled multilingual-e5-small makes them; only a query's vector is mapped,
``y = W x + b`` with ``W = I + U Vᵀ`` (low rank) or a full ``W``, then L2-normalised again. The map is
trained by ``bench/train_adapter.py`` on shared data only (the STARD dev questions and pairs the corpus
gives for free) and shipped as :data:`DEFAULT_ADAPTER`, a file of well under 1 MB. numpy only: nothing
here imports torch.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ADAPTER = Path(__file__).resolve().parent / "data" / "query_adapter.npz"


@dataclass(frozen=True)
class QueryAdapter:
    """``y = x + (x V) Uᵀ + b`` (low rank) or ``y = x Wᵀ + b`` (full), rows L2-normalised.

    Exactly one of ``weight`` (d×d) and the pair ``u``, ``v`` (d×r each) is set; ``info`` records the
    encoder it was trained for and how.
    """

    bias: np.ndarray
    weight: np.ndarray | None = None
    u: np.ndarray | None = None
    v: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.weight is None) == (self.u is None or self.v is None):
            raise ValueError("a query adapter needs either a full weight or the low-rank pair u, v")

    @property
    def dim(self) -> int:
        """Length of the vectors it maps."""
        return int(self.bias.shape[0])

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """Map query vectors (n×d, or one d-vector) and L2-normalise them; float32."""
        x = np.asarray(vectors, dtype=np.float32)
        one = x.ndim == 1
        x = np.atleast_2d(x)
        if x.shape[1] != self.dim:
            raise ValueError(f"query adapter is for {self.dim}-d vectors, got {x.shape[1]}-d")
        if self.weight is not None:
            y = x @ self.weight.T + self.bias
        else:
            assert self.u is not None and self.v is not None
            y = x + (x @ self.v) @ self.u.T + self.bias
        y /= np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        return y[0] if one else y

    def save(self, path: Path) -> None:
        """Write the adapter as a compressed .npz (float32 arrays, ``info`` as JSON)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {"bias": self.bias.astype(np.float32)}
        if self.weight is not None:
            arrays["weight"] = self.weight.astype(np.float32)
        else:
            assert self.u is not None and self.v is not None
            arrays["u"], arrays["v"] = self.u.astype(np.float32), self.v.astype(np.float32)
        arrays["info"] = np.array(json.dumps(self.info, ensure_ascii=False))
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> QueryAdapter:
        """Read an adapter written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"])) if "info" in z.files else {}
            get = lambda name: np.asarray(z[name], dtype=np.float32) if name in z.files else None  # noqa: E731
            bias = get("bias")
            if bias is None:
                raise ValueError(f"{path} holds no query adapter (no bias)")
            return cls(bias=bias, weight=get("weight"), u=get("u"), v=get("v"), info=info)

    @classmethod
    def identity(cls, dim: int = 384) -> QueryAdapter:
        """The map that changes nothing (zero-rank update, zero bias)."""
        zero = np.zeros((dim, 0), np.float32)
        return cls(bias=np.zeros(dim, np.float32), u=zero, v=zero.copy(), info={"kind": "identity"})


@functools.cache
def _load_cached(path: str) -> QueryAdapter:
    return QueryAdapter.load(Path(path))


def load_adapter(path: Path | None = None, *, model: str | None = None) -> QueryAdapter | None:
    """The shipped adapter (or the one at ``path``), loaded once per process; None when the file is missing
    or was trained for another encoder than ``model`` (when given; a ``@backend`` suffix such as
    ``@onnx-int8`` is ignored: the int8 export gives the same vectors to within cosine 0.998)."""
    target = Path(path) if path is not None else DEFAULT_ADAPTER
    if not target.is_file():
        return None
    adapter = _load_cached(str(target.resolve()))
    trained_for = adapter.info.get("model")
    if model is not None and trained_for is not None and model.split("@")[0] != trained_for:
        return None
    return adapter


__all__ = ["DEFAULT_ADAPTER", "QueryAdapter", "load_adapter"]
