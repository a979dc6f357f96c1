"""The ``policykg`` command: thin calls into :class:`~policykg.api.kb.KnowledgeBase`, printed as tables or ``--json``.

The commands live by subject: ``ingest`` (ingest, sync), ``search`` (search, timeline), ``graph``
(regulations, measures, units, documents, export, SPARQL, viz), ``years`` (diff, plans, indicators)
and ``serve``; ``common`` holds the app they register on.
"""

from __future__ import annotations

import os
import sys

from policykg.api.cli import graph, ingest, search, serve, years  # noqa: F401  (registers the commands)
from policykg.api.cli.common import app, err


def main() -> None:
    """Entry point: unexpected errors print one line (set POLICYKG_DEBUG=1 for the traceback)."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("POLICYKG_DEBUG"):
            raise
        err.print(f"[red]error:[/red] {type(exc).__name__}: {exc}", highlight=False)
        sys.exit(2)


__all__ = ["app", "main"]

if __name__ == "__main__":  # pragma: no cover
    main()
