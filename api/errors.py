"""The errors the facade raises: each one line for the user, each with the HTTP status it maps to.

The CLI prints them without a traceback; the HTTP app maps them once, by exception handlers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from policykg.graph.model import InvalidChoice
from policykg.graph.store import StoreError
from policykg.ingest.metadata import ManifestError


class KnowledgeBaseError(Exception):
    """A user-facing error: one line, no traceback needed (HTTP 400)."""

    status = 400


class InvalidParameter(KnowledgeBaseError):
    """A parameter names nothing usable, e.g. an unknown regulation as a search filter (HTTP 422)."""

    status = 422


class NotFound(KnowledgeBaseError):
    """No regulation, unit, measure or document by that name or id (HTTP 404)."""

    status = 404


class IngestLocked(KnowledgeBaseError):
    """Another ingest holds the data directory (HTTP 409)."""

    status = 409


class BackendUnavailable(KnowledgeBaseError):
    """A configured server (SPARQL graph, Milvus vectors) cannot be reached or refused a request (HTTP 503)."""

    status = 503


# What the layers below raise, as the user sees it: (module, class) → the facade's error. The modules are
# not imported here (rdflib's SPARQL parser, networkx, Ray, pymilvus would load with every CLI command):
# an exception can only be raised by a module that is loaded, so its class is looked up in sys.modules.
_RAISED_AS: tuple[tuple[str, str, type[KnowledgeBaseError]], ...] = (
    ("policykg.graph.sparql_server", "GraphServerError", BackendUnavailable),
    ("policykg.search.milvus", "VectorServerError", BackendUnavailable),
    ("policykg.search.across_years", "SeriesError", NotFound),
    ("policykg.graph.export", "ExportError", KnowledgeBaseError),
    ("policykg.graph.sparql", "SparqlRefused", KnowledgeBaseError),
    ("policykg.graph.sparql", "SparqlTimeout", KnowledgeBaseError),
    ("policykg.ingest.ray_engine", "RayUnavailable", KnowledgeBaseError),
)
_ALWAYS = (InvalidChoice, ManifestError, StoreError)


def _facade_error(exc: Exception) -> type[KnowledgeBaseError] | None:
    """The facade's error class for ``exc`` raised below it, else None."""
    for module, name, error in _RAISED_AS:
        cls = getattr(sys.modules.get(module), name, None)
        if isinstance(cls, type) and isinstance(exc, cls):
            return error
    return KnowledgeBaseError if isinstance(exc, _ALWAYS) else None


@contextmanager
def translated(servers_hint: str = "") -> Iterator[None]:
    """Turn the errors of graph/, ingest/ and search/ into the facade's; ``servers_hint`` follows a server's error."""
    try:
        yield
    except KnowledgeBaseError:
        raise
    except Exception as exc:
        error = _facade_error(exc)
        if error is None:
            raise
        raise error(f"{exc}{servers_hint}" if error is BackendUnavailable else str(exc)) from exc


__all__ = ["BackendUnavailable", "IngestLocked", "InvalidParameter", "KnowledgeBaseError", "NotFound", "translated"]
