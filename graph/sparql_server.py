"""The graph in a SPARQL 1.1 server (Oxigraph, Virtuoso, Fuseki …) through rdflib's SPARQLUpdateStore.

The SQLite store stays the record; the server holds the same triples as :func:`graph.rdf.build_rdf`
split into named graphs, so that many API replicas and any SPARQL client share one graph and a
change rewrites only what it touched:

- ``…/graph/doc/<id>``: a document with its measures, articles and indicators;
- ``…/graph/links/<id>``: the Measure → Regulation links (with evidence) of a document's measures;
- ``…/graph/shared``: regulations and units (they gather names from many documents).

Queries see the union of the named graphs: start Oxigraph with ``--union-default-graph``
(Virtuoso does this by default; Fuseki: ``tdb2:unionDefaultGraph true``). Every query passes
:func:`policykg.graph.sparql.check_query` first, and the server receives the text that was checked.
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from rdflib import Graph
from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore
from rdflib.query import Result
from rdflib.term import Node

from policykg.graph.rdf import document_graph, links_graph, shared_graph
from policykg.graph.sparql import (
    ALLOW_FEDERATION,
    GRAPH_BASE,
    CheckedQuery,
    GraphServerError,
    SparqlRefused,
    SparqlTimeout,
    check_query,
    result_rows,
    run_limited,
)
from policykg.graph.store import SQLiteStore

__all__ = ["GRAPH_BASE", "GraphServerError", "SparqlEndpoint", "SparqlServerGraph", "sync_graph"]

Triple = tuple[Node, Node, Node]
# HTTP statuses of the query endpoint that are about the query (syntax, size, evaluation), not the server
QUERY_REFUSED = frozenset({400, 413, 414, 500})


class _ServerTimeout(GraphServerError):
    """The server did not answer within the socket timeout."""


@dataclass
class SparqlEndpoint:
    """Where the graph lives. ``auth`` is ``user:password`` (HTTP Basic) or ``digest:user:password``."""

    query_url: str
    update_url: str | None = None
    auth: str | None = None
    timeout: float = 60.0
    batch: int = 5_000  # triples per INSERT DATA request (Virtuoso: a few hundred)
    # SPARQL 1.1 Graph Store endpoint (Oxigraph: .../store): a named graph is replaced by one PUT of
    # its triples instead of DROP + INSERT DATA batches (one request per graph, whatever its size)
    store_url: str | None = None


class _Store(SPARQLUpdateStore):
    """SPARQLUpdateStore whose HTTP goes through one opener: timeouts, and Basic or Digest auth."""

    def __init__(self, endpoint: SparqlEndpoint) -> None:
        super().__init__(
            query_endpoint=endpoint.query_url, update_endpoint=endpoint.update_url or endpoint.query_url,
            method="POST_FORM", returnFormat="json", autocommit=True,
        )
        self.timeout = endpoint.timeout
        handlers: list[urllib.request.BaseHandler] = []
        if endpoint.auth:
            scheme, _, rest = endpoint.auth.partition(":")
            digest = scheme == "digest"
            user, _, password = (rest if digest else endpoint.auth).partition(":")
            manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            for url in {endpoint.query_url, endpoint.update_url or endpoint.query_url, endpoint.store_url or endpoint.query_url}:
                manager.add_password(None, url, user, password)
            handlers.append(
                urllib.request.HTTPDigestAuthHandler(manager) if digest else urllib.request.HTTPBasicAuthHandler(manager)
            )
        self.opener = urllib.request.build_opener(*handlers)

    def _open(
        self, url: str, data: bytes, content_type: str, accept: str, method: str = "POST", timeout: float | None = None,
    ) -> tuple[bytes, str]:
        req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type, "Accept": accept}, method=method)
        try:
            with self.opener.open(req, timeout=self.timeout if timeout is None else timeout) as res:
                return bytes(res.read()), str(res.headers.get("Content-Type", "")).split(";")[0].strip()
        except HTTPError as exc:
            body = exc.read().decode("utf-8", "replace").strip().splitlines()
            message = f"SPARQL server {url}: HTTP {exc.code} {body[0][:200] if body else exc.reason}"
            raise GraphServerError(message, exc.code) from exc
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            error = _ServerTimeout if isinstance(reason, TimeoutError) else GraphServerError
            raise error(f"SPARQL server {url}: {reason}") from exc

    def _query(
        self, query: str, default_graph: str | None = None, named_graph: str | None = None, *,
        kind: str = "SELECT", timeout: float | None = None,
    ) -> Result:
        """POST the query as a form (no default-graph-uri: the server's union default graph) and parse
        the answer: SPARQL JSON for SELECT/ASK, N-Triples or Turtle for CONSTRUCT/DESCRIBE."""
        self._queries += 1
        assert self.query_endpoint is not None
        graph_result = kind in ("CONSTRUCT", "DESCRIBE")
        raw, ctype = self._open(
            self.query_endpoint, urlencode({"query": query}).encode(), "application/x-www-form-urlencoded",
            "application/n-triples, text/turtle;q=0.9" if graph_result else "application/sparql-results+json",
            timeout=timeout,
        )
        if graph_result:
            g = Graph()
            g.parse(data=raw.decode("utf-8"), format="turtle" if "turtle" in ctype else "nt")
            result = Result("CONSTRUCT")
            result.graph = g
            return result
        parsed = Result.parse(BytesIO(raw), format="json")
        if kind == "ASK" and parsed.type == "SELECT":  # Virtuoso answers ASK as a one-cell table
            rows = list(parsed)
            ask = Result("ASK")
            ask.askAnswer = bool(rows) and str(rows[0][0]).lower() in ("1", "true")  # type: ignore[index]
            return ask
        return parsed

    def _update(self, update: str) -> None:
        self._updates += 1
        assert self.update_endpoint is not None
        self._open(self.update_endpoint, update.encode("utf-8"), "application/sparql-update; charset=UTF-8", "*/*")


def _statements(triples: Iterable[Triple]) -> str:
    """One ``s p o .`` line per triple (Turtle terms, valid in INSERT DATA and in a Turtle body)."""
    return "\n".join(f"{s.n3()} {p.n3()} {o.n3()} ." for s, p, o in triples)


class SparqlServerGraph:
    """The knowledge graph in a SPARQL server: replace named graphs, run read-only queries (a GraphBackend)."""

    def __init__(self, endpoint: SparqlEndpoint, *, allow_federation: bool = ALLOW_FEDERATION) -> None:
        self.endpoint = endpoint
        self.name = endpoint.query_url
        self.allow_federation = allow_federation
        self.store = _Store(endpoint)

    @property
    def target(self) -> str:
        """Where the triples go, as recorded by the store's sync state."""
        return f"sparql {self.endpoint.update_url or self.endpoint.query_url}"

    # ---- queries
    def check(self, query: str) -> CheckedQuery:
        """The query as it will be sent, or SparqlRefused (FROM may name only policykg's graphs)."""
        return check_query(query, allow_federation=self.allow_federation, named_graphs=GRAPH_BASE)

    def query(self, query: str, *, limit: int = 10_000, timeout: float = 30.0) -> dict[str, Any]:
        """Check a read-only query and run it on the server; rows and time are capped (see GraphBackend)."""

        def job() -> dict[str, Any]:
            checked = self.check(query)
            try:
                return result_rows(self.store._query(checked.text, kind=checked.kind, timeout=timeout + 1.0), limit)
            except _ServerTimeout as exc:
                raise SparqlTimeout(f"SPARQL query stopped after {timeout:g} s") from exc
            except GraphServerError as exc:
                if exc.status in QUERY_REFUSED:
                    raise SparqlRefused(str(exc)) from exc
                raise
            except Exception as exc:  # a garbled or cut answer (Oxigraph reports late errors mid-stream)
                raise SparqlRefused(f"the SPARQL server's answer cannot be read ({type(exc).__name__})") from exc

        return run_limited(job, timeout, offline=False, grace=0.2)

    def query_result(self, query: str) -> Result:
        """rdflib's Result of a query (checked all the same), no row cap; for policykg's own queries and tests."""
        checked = self.check(query)
        return self.store._query(checked.text, kind=checked.kind)

    def count(self) -> int:
        """Triples in policykg's named graphs (a server may hold graphs of its own)."""
        rows = list(self.query_result(
            f'SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), "{GRAPH_BASE}")) }}'
        ))
        return int(str(rows[0][0])) if rows else 0  # type: ignore[index]

    # ---- writes
    def sync(self, store: SQLiteStore) -> dict[str, Any]:
        """Bring the server's named graphs in line with the store (see :func:`sync_graph`)."""
        return sync_graph(store, self)

    def update(self, text: str) -> None:
        self.store._update(text)

    def replace_graph(self, name: str, triples: Sequence[Triple]) -> None:
        """Drop graph ``name`` and insert ``triples`` in it (one request when it fits the batch size)."""
        if self.endpoint.store_url:
            self._put_graph(name, triples)
            return
        g = f"<{GRAPH_BASE}{name}>"
        chunks = [triples[i: i + self.endpoint.batch] for i in range(0, len(triples), self.endpoint.batch)] or [[]]
        for i, chunk in enumerate(chunks):
            body = _statements(chunk)
            drop = f"DROP SILENT GRAPH {g} ;\n" if i == 0 else ""
            self.update(f"{drop}INSERT DATA {{ GRAPH {g} {{\n{body}\n}} }}" if chunk else drop.rstrip(" ;\n"))

    def _put_graph(self, name: str, triples: Sequence[Triple]) -> None:
        """Graph Store protocol: PUT replaces the graph with the body (Turtle: literals may span lines)."""
        assert self.endpoint.store_url is not None
        if not triples:
            self.drop_graph(name)
            return
        sep = "&" if "?" in self.endpoint.store_url else "?"
        url = f"{self.endpoint.store_url}{sep}{urlencode({'graph': GRAPH_BASE + name})}"
        self.store._open(url, _statements(triples).encode("utf-8"), "text/turtle; charset=utf-8", "*/*", method="PUT")

    def drop_graph(self, name: str) -> None:
        self.update(f"DROP SILENT GRAPH <{GRAPH_BASE}{name}>")


def _digest(triples: Iterable[Triple]) -> str:
    lines = sorted(f"{s.n3()} {p.n3()} {o.n3()}" for s, p, o in triples)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


def sync_graph(store: SQLiteStore, server: SparqlServerGraph) -> dict[str, int]:
    """Bring the server's named graphs in line with the store; rewrite only those that changed.

    Document graphs are keyed by the document's fingerprint, the others by a digest of their
    triples; the store records what the server holds, so a rerun after a crash finishes the job.
    """
    target = server.target
    with store.snapshot():
        state = store.sync_state(target)
        docs = {d.id: d for d in store.documents()}
        fingerprints = store.fingerprints_by_document()
        wanted: dict[str, str] = {f"doc/{i}": fingerprints[i] for i in docs}
        parts: dict[str, list[Triple]] = {
            f"doc/{i}": list(document_graph(store, d)) for i, d in docs.items() if state.get(f"doc/{i}") != fingerprints[i]
        }
        parts["shared"] = list(shared_graph(store))
        wanted["shared"] = _digest(parts["shared"])
        for doc_id, g in links_graph(store).items():
            name = f"links/{doc_id}"
            parts[name] = list(g)
            wanted[name] = _digest(parts[name])
    written = dropped = 0
    for name, value in wanted.items():
        if state.get(name) != value:
            server.replace_graph(name, parts[name])
            store.record_sync(target, name, value)
            written += 1
    for name in set(state) - set(wanted):
        server.drop_graph(name)
        store.record_sync(target, name, None)
        dropped += 1
    return {"written": written, "dropped": dropped}
