"""The local ingest engine: the document step in this process, one file after another.

The Ray engine (``policykg.ingest.ray_engine``) runs the same :class:`~policykg.ingest.pipeline.DocumentStep`
on a cluster; both satisfy :class:`~policykg.ingest.pipeline.Engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import DocumentStep, Embedded, Known, Prepared
from policykg.ingest.protocols import Encoder

WINDOW_CHARS = 200_000  # text read ahead and embedded in one encoder call (~1,000 passages of the corpus)


class LocalEngine:
    """Read, extract and embed here; the encoder is loaded at the first file that needs it.

    Files are read and extracted a window at a time (about :data:`WINDOW_CHARS` of text, or ``window``),
    and the window's passages are encoded in one call, batched by length across documents: fuller
    batches and less padding than one document at a time. Results come back in input order.
    """

    def __init__(self, encoder: Callable[[], Encoder], window: int = WINDOW_CHARS) -> None:
        self.encoder = encoder
        self.window = window

    def run(
        self, items: Sequence[tuple[Path, Metadata]], step: DocumentStep, known: Known,
    ) -> Iterator[tuple[Path, Embedded | str | None]]:
        pending: list[tuple[Path, Prepared | str | None]] = []
        size = 0
        for path, meta in items:
            prepared = step.prepare(path, meta, known)
            pending.append((path, prepared))
            if isinstance(prepared, Prepared):
                size += len(prepared.document.text)
            if size >= self.window:
                yield from self._flush(pending, step)
                pending, size = [], 0
        yield from self._flush(pending, step)

    def _flush(
        self, pending: list[tuple[Path, Prepared | str | None]], step: DocumentStep
    ) -> Iterator[tuple[Path, Embedded | str | None]]:
        ready = [p for _, p in pending if isinstance(p, Prepared)]
        embedded = iter(step.embed_many(ready, self.encoder()) if ready else [])
        for path, prepared in pending:
            yield path, next(embedded) if isinstance(prepared, Prepared) else prepared


__all__ = ["LocalEngine"]
