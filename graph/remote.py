"""The graph in a SPARQL 1.1 server (Oxigraph, Virtuoso, Fuseki …) through rdflib's SPARQLUpdateStore.

The SQLite store stays the record; the server holds the same triples as :func:`graph.rdf.build_rdf`
split into named graphs, so that many API replicas and any SPARQL client share one graph and a
change rewrites only what it touched:

- ``…/graph/doc/<id>``: a document with its measures, articles and indicators;
- ``…/graph/links/<id>``: the Measure → Regulation links (with evidence) of a document's measures;
- ``…/graph/shared``: regulations and units (they gather names from many documents).

Queries see the union of the named graphs: start Oxigraph with ``--union-default-graph``
(Virtuoso does this by default; Fuseki: ``tdb2:unionDefaultGraph true``).
"""

from __future__ import annotations

import hashlib
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from io import BytesIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode

from rdflib import Graph
from rdflib.plugins.stores.sparqlstore import SPARQLUpdateStore
from rdflib.query import Result
from rdflib.term import Node

from policykg.graph.rdf import document_graph, links_graph, shared_graph
from policykg.graph.store import SQLiteStore

GRAPH_BASE = "https://policykg.org/graph/"
Triple = tuple[Node, Node, Node]


class GraphServerError(Exception):
    """The SPARQL server cannot be reached or refused a request (one line)."""


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

    def _open(self, url: str, data: bytes, content_type: str, accept: str, method: str = "POST") -> tuple[bytes, str]:
        req = urllib.request.Request(url, data=data, headers={"Content-Type": content_type, "Accept": accept}, method=method)
        try:
            with self.opener.open(req, timeout=self.timeout) as res:
                return bytes(res.read()), str(res.headers.get("Content-Type", "")).split(";")[0].strip()
        except HTTPError as exc:
            body = exc.read().decode("utf-8", "replace").strip().splitlines()
            raise GraphServerError(f"SPARQL server {url}: HTTP {exc.code} {body[0][:200] if body else exc.reason}") from exc
        except (URLError, OSError) as exc:
            raise GraphServerError(f"SPARQL server {url}: {getattr(exc, 'reason', exc)}") from exc

    def _query(self, query: str, default_graph: str | None = None, named_graph: str | None = None, *, kind: str = "SELECT") -> Result:
        """POST the query as a form (no default-graph-uri: the server's union default graph) and parse
        the answer: SPARQL JSON for SELECT/ASK, N-Triples or Turtle for CONSTRUCT/DESCRIBE."""
        self._queries += 1
        assert self.query_endpoint is not None
        graph_result = kind in ("CONSTRUCT", "DESCRIBE")
        raw, ctype = self._open(
            self.query_endpoint, urlencode({"query": query}).encode(), "application/x-www-form-urlencoded",
            "application/n-triples, text/turtle;q=0.9" if graph_result else "application/sparql-results+json",
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
    """The knowledge graph in a SPARQL server: replace named graphs, run read-only queries."""

    def __init__(self, endpoint: SparqlEndpoint) -> None:
        self.endpoint = endpoint
        self.store = _Store(endpoint)

    @property
    def target(self) -> str:
        """Where the triples go, as recorded by the store's sync state."""
        return f"sparql {self.endpoint.update_url or self.endpoint.query_url}"

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

    def query(self, sparql: str, kind: str = "SELECT") -> Result:
        """Run a query of ``kind`` (SELECT, ASK, CONSTRUCT, DESCRIBE); the caller checks it is read-only."""
        return self.store._query(sparql, kind=kind)

    def count(self) -> int:
        """Triples in policykg's named graphs (a server may hold graphs of its own)."""
        rows = list(self.query(
            f'SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(STRSTARTS(STR(?g), "{GRAPH_BASE}")) }}'
        ))
        return int(str(rows[0][0])) if rows else 0  # type: ignore[index]


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
        docs = {d["id"]: d for d in store.documents()}
        fingerprints = {r["id"]: r["fingerprint"] for r in store.query("SELECT id, fingerprint FROM documents")}
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

