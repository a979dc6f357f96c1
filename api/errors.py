"""The errors the facade raises: each one line for the user, each with the HTTP status it maps to.

The CLI prints them without a traceback; the HTTP app maps them once, by exception handlers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from policykg.graph.export import ExportError
from policykg.graph.model import InvalidChoice
from policykg.graph.sparql import SparqlRefused, SparqlTimeout
from policykg.graph.sparql_server import GraphServerError
from policykg.graph.store import StoreError
from policykg.ingest.metadata import ManifestError
from policykg.ingest.ray_engine import RayUnavailable
from policykg.search.across_years import SeriesError
from policykg.search.milvus import VectorServerError


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


# what the layers below raise, as the user sees it
_USER_ERRORS = (ExportError, InvalidChoice, ManifestError, RayUnavailable, SparqlRefused, SparqlTimeout, StoreError)


@contextmanager
def translated(servers_hint: str = "") -> Iterator[None]:
    """Turn the errors of graph/, ingest/ and search/ into the facade's; ``servers_hint`` follows a server's error."""
    try:
        yield
    except (GraphServerError, VectorServerError) as exc:
        raise BackendUnavailable(f"{exc}{servers_hint}") from exc
    except SeriesError as exc:
        raise NotFound(str(exc)) from exc
    except _USER_ERRORS as exc:
        raise KnowledgeBaseError(str(exc)) from exc


__all__ = ["BackendUnavailable", "IngestLocked", "InvalidParameter", "KnowledgeBaseError", "NotFound", "translated"]
