"""The errors the facade raises: each one line for the user, each with the HTTP status it maps to.

The CLI prints them without a traceback; the HTTP app maps them once, by exception handlers.
"""

from __future__ import annotations


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


__all__ = ["BackendUnavailable", "IngestLocked", "InvalidParameter", "KnowledgeBaseError", "NotFound"]
