"""The local ingest engine: the document step in this process, one file after another.

The Ray engine (``policykg.ingest.ray_engine``) runs the same :class:`~policykg.ingest.pipeline.DocumentStep`
on a cluster; both satisfy :class:`~policykg.ingest.pipeline.Engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from policykg.ingest.metadata import Metadata
from policykg.ingest.pipeline import DocumentStep, Embedded, Known
from policykg.ingest.protocols import Encoder


class LocalEngine:
    """Read, extract and embed each file here; the encoder is loaded at the first file that needs it."""

    def __init__(self, encoder: Callable[[], Encoder]) -> None:
        self.encoder = encoder

    def run(
        self, items: Sequence[tuple[Path, Metadata]], step: DocumentStep, known: Known,
    ) -> Iterator[tuple[Path, Embedded | str | None]]:
        for path, meta in items:
            prepared = step.prepare(path, meta, known)
            if prepared is None or isinstance(prepared, str):
                yield path, prepared
                continue
            yield path, step.embed(prepared, self.encoder())


__all__ = ["LocalEngine"]
