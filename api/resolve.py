"""From what a user types to what the store knows: names to regulations, units and documents, checked
choices, filters and scopes — each failure a one-line error of ``api/errors.py``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from policykg.api.errors import InvalidParameter, KnowledgeBaseError, NotFound, translated
from policykg.graph import readmodels as rm
from policykg.graph.model import DocType, LinkMethod, LinkRelation, Regulation, Unit, check_choice
from policykg.graph.store import SQLiteStore
from policykg.graph.store.coverage import Scope
from policykg.ingest import laws
from policykg.search.filters import Filters


def choices(*checks: tuple[Any, Any, str]) -> None:
    """Each ``(value, Literal type, what)``: None or one of the type's values (else a one-line 400)."""
    with translated():
        for value, allowed, what in checks:
            check_choice(value, allowed, what)


def methods(given: Sequence[str] | None) -> None:
    """Link methods named by a user."""
    choices(*((m, LinkMethod, "method") for m in given or ()))


def relations(given: Sequence[str] | None) -> None:
    """Link relations named by a user (implements, drafts, revises, studies)."""
    choices(*((r, LinkRelation, "relation") for r in given or ()))


def found(value: Any, name: str, what: str = "") -> Any:
    """``value``, or NotFound naming what was asked for."""
    if value is None:
        raise NotFound(f"no {what + ' ' if what else ''}{name!r}")
    return value


def regulation(store: SQLiteStore, name: str) -> Regulation:
    """By id, canonical name, any alias, or any form with the same key (科技进步法)."""
    by_id = store.regulations(name)  # the usual case over HTTP: one row
    if by_id:
        return by_id[0]
    key = laws.regulation_key(name)
    for r in store.regulations():
        if name in (r.id, r.name) or name in r.aliases or r.key == key:
            return r
    raise NotFound(f"no regulation named {name!r} (see `policykg regulations`)")


def unit(store: SQLiteStore, name: str) -> Unit:
    """By id or name, else by alias when only one unit has it (各区 of two cities: say which)."""
    units = store.units()
    for u in units:
        if name in (u.id, u.name):
            return u
    having = [u for u in units if name in u.aliases]
    if len(having) > 1:
        raise InvalidParameter(f"{name!r} names {len(having)} units: {', '.join(sorted(u.name for u in having))}")
    if having:
        return having[0]
    raise NotFound(f"no unit named {name!r} (see `policykg units`)")


def document(store: SQLiteStore, doc_id: str) -> rm.DocumentDetail:
    """By id, or a unique prefix of it."""
    doc = store.document_detail(doc_id)
    if doc is None:
        matches = [d.id for d in store.documents() if d.id.startswith(doc_id) or d.id == f"doc:{doc_id}"]
        doc = store.document_detail(matches[0]) if len(matches) == 1 else None
    return found(doc, doc_id, "document")


def removal_target(store: SQLiteStore, ref: str) -> tuple[str, bool]:
    """The id of the document ``ref`` names (id, id prefix, path as ingested or as shown), and whether it
    was removed before."""
    names = [ref]
    with suppress(OSError, ValueError):
        names.append(str(Path(ref).resolve()))
    for removed_before in (False, True):
        hits = store.matching_documents(names, removed=removed_before)
        if len(hits) > 1:
            raise KnowledgeBaseError(f"{ref!r} names {len(hits)} documents ({', '.join(hits[:5])}): give an id")
        if hits:
            return hits[0], removed_before
    raise NotFound(f"no document {ref!r} (see `policykg documents --removed` for removed ones)")


def filters(store: SQLiteStore, year: Any, year_from: Any, year_to: Any, doc_type: Any, issuer: Any, regulation_name: Any) -> Filters:
    """A search's filters; an unknown regulation is a bad parameter (422), not a missing resource."""
    choices((doc_type, DocType, "type"))
    try:
        reg_id = regulation(store, regulation_name).id if regulation_name else None
    except NotFound as exc:
        raise InvalidParameter(str(exc)) from exc
    as_int = [int(v) if v is not None else None for v in (year, year_from, year_to)]
    return Filters(as_int[0], as_int[1], as_int[2], doc_type, issuer, reg_id)


def scope(store: SQLiteStore, issuer: str | None, year_from: int | None, year_to: int | None) -> Scope:
    """The measures an aggregate counts; an issuer no document has, or a reversed range, is a one-line error."""
    if issuer and not store.issuer_known(issuer):
        raise InvalidParameter(f"no document of issuer {issuer!r} (see `policykg documents`)")
    if year_from is not None and year_to is not None and year_from > year_to:
        raise InvalidParameter(f"the year range is empty: from {year_from} to {year_to}")
    return Scope(issuer or None, year_from, year_to)


__all__ = ["choices", "document", "filters", "found", "methods", "regulation", "removal_target", "scope", "unit"]
