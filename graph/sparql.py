"""Read-only SPARQL over the knowledge graph: the ``GraphBackend`` protocol, the query guard, the embedded backend.

Every query, whichever backend answers it, first goes through :func:`check_query`: it is normalised
(``\\u`` escapes expanded once, line ends made ``\\n``, the standard prefixes declared), parsed by rdflib
and its whole algebra walked. Refused (:class:`SparqlRefused`, one line): anything that is not a
SELECT/ASK/CONSTRUCT/DESCRIBE query (updates, ``LOAD``), ``SERVICE`` unless federation is on
(``allow_federation``, off by default), ``FROM``/``FROM NAMED`` naming a graph outside policykg's own,
and calls of extension functions (only SPARQL built-ins and XSD casts). The text that was checked is
the text that is evaluated or sent to a server, so a server cannot read a query differently.

:class:`EmbeddedGraph` evaluates with rdflib in a worker thread that is stopped at the time limit
(:class:`SparqlTimeout`) and that cannot open a network connection (an audit hook refuses it).
The SPARQL server backend lives in :mod:`policykg.graph.sparql_server`.
"""

from __future__ import annotations

import ctypes
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pyparsing import ParseResults
from rdflib import XSD, Graph
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parser import expandUnicodeEscapes
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.plugins.sparql.sparql import Query

from policykg.graph.rdf import PREFIXES, build_rdf
from policykg.graph.store import SQLiteStore

log = logging.getLogger(__name__)

# SERVICE (federated queries) is refused unless an operator turns it on (EmbeddedGraph / SparqlServerGraph flag)
ALLOW_FEDERATION = False
# policykg's named graphs in a SPARQL server (graph.sparql_server); FROM / FROM NAMED may name only these
GRAPH_BASE = "https://policykg.org/graph/"
QUERY_KINDS = {"SelectQuery": "SELECT", "AskQuery": "ASK", "ConstructQuery": "CONSTRUCT", "DescribeQuery": "DESCRIBE"}
T = TypeVar("T")


class SparqlRefused(Exception):
    """The query is malformed, not read-only, or uses a refused form (one line: the reason)."""


class SparqlTimeout(Exception):
    """The query did not finish within its time limit (the message names the limit)."""


class GraphServerError(Exception):
    """The SPARQL server cannot be reached or refused a request (one line); ``status``: its HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GraphBackend(Protocol):
    """Where the RDF graph is queried: rdflib in the process, or a SPARQL 1.1 server."""

    name: str  # "embedded", or the SPARQL server's query URL (shown by /health)

    def query(self, query: str, *, limit: int, timeout: float) -> dict[str, Any]:
        """Run a read-only query: ``{"type": "select", "vars", "rows", "truncated"}``, ``{"type": "ask",
        "boolean"}`` or ``{"type": "graph", "triples", "truncated"}``. Raises SparqlRefused, SparqlTimeout,
        GraphServerError (server down)."""
        ...

    def sync(self, store: SQLiteStore) -> dict[str, Any]:
        """Bring the backend in line with the store (embedded: nothing to do, ``{}``)."""
        ...


# ---------------------------------------------------------------- the guard
@dataclass(frozen=True)
class CheckedQuery:
    """A query that passed :func:`check_query`: the text to send (normalised, standard prefixes declared),
    rdflib's parse of it, its kind."""

    text: str
    prepared: Query
    kind: str  # SELECT, ASK, CONSTRUCT, DESCRIBE


_PREFIX_RE = re.compile(r"PREFIX\s+([A-Za-z][\w.-]*)?\s*:", re.IGNORECASE)


def with_prefixes(query: str) -> str:
    """The query with PREFIX lines for the standard prefixes it uses without declaring them."""
    declared = {m.group(1) or "" for m in _PREFIX_RE.finditer(query)}
    lines = [f"PREFIX {p}: <{ns}>" for p, ns in PREFIXES.items() if p not in declared]
    return "\n".join([*lines, query])


def normalize(query: str) -> str:
    """The query as every SPARQL parser reads it alike: ``\\uXXXX`` escapes expanded (once, as rdflib does),
    carriage returns made newlines (rdflib ends a ``#`` comment only at ``\\n``, the grammar at either)."""
    try:
        text = expandUnicodeEscapes(query).replace("\r", "\n")
    except ValueError as exc:
        raise SparqlRefused(f"malformed SPARQL query ({exc})") from exc
    if expandUnicodeEscapes(text) != text:
        raise SparqlRefused(r"malformed SPARQL query (a \u escape that makes another escape)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SparqlRefused("malformed SPARQL query (not valid Unicode text)") from exc
    return text


def _nodes(root: Any) -> Iterator[CompValue]:
    """Every CompValue under ``root``: algebra operators, unparsed patterns (EXISTS), expressions, clauses."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if isinstance(node, str | int | float | bool) or node is None or id(node) in seen:
            continue  # rdflib terms are str
        seen.add(id(node))
        if isinstance(node, CompValue):
            yield node
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple | set | frozenset | ParseResults):
            stack.extend(reversed(list(node)))


def refusal(algebra: CompValue, *, allow_federation: bool, named_graphs: str | None) -> str | None:
    """Why the parsed query is refused (None: it is not). ``named_graphs``: the prefix of the graph IRIs
    FROM / FROM NAMED may name; None: the backend has no named graphs (FROM, FROM NAMED and GRAPH refused)."""
    if algebra.name not in QUERY_KINDS:
        return f"not a read-only SPARQL query ({algebra.name})"
    for node in _nodes(algebra):
        name = node.name
        if name == "ServiceGraphPattern" and not allow_federation:
            return "SERVICE is refused: this endpoint does not query other endpoints"
        if name == "DatasetClause":
            named = dict.get(node, "named")  # (CompValue.get answers the key itself for a missing key)
            clause, iri = ("FROM", dict.get(node, "default")) if named is None else ("FROM NAMED", named)
            if named_graphs is None:
                return f"{clause} is refused: the embedded graph has no named graphs and loads none"
            if not str(iri).startswith(named_graphs):
                return f"{clause} <{iri}> is refused: only policykg's own graphs ({named_graphs}…) can be named"
        if name in ("Graph", "GraphGraphPattern") and named_graphs is None:
            return "GRAPH is refused: the embedded graph has no named graphs (they exist in a SPARQL server)"
        if name == "Function" and not str(iri := dict.get(node, "iri")).startswith(str(XSD)):
            return f"the function <{iri}> is refused: only SPARQL's built-in functions and XSD casts"
    return None


def check_query(query: str, *, allow_federation: bool = ALLOW_FEDERATION, named_graphs: str | None = GRAPH_BASE) -> CheckedQuery:
    """Normalise and parse ``query``; raise SparqlRefused unless it is a read-only query of an allowed form."""
    text = normalize(query)
    try:
        prepared = prepareQuery(text, initNs=dict(PREFIXES))  # as with_prefixes(text) reads: same tokens after them
    except Exception as exc:  # pyparsing, rdflib and recursion errors alike: the query is not ours to run
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise SparqlRefused(f"not a read-only SPARQL query ({type(exc).__name__}: {first})") from exc
    reason = refusal(prepared.algebra, allow_federation=allow_federation, named_graphs=named_graphs)
    if reason is not None:
        raise SparqlRefused(reason)
    return CheckedQuery(with_prefixes(text), prepared, QUERY_KINDS[prepared.algebra.name])


# ---------------------------------------------------------------- time limit and no network
class _Stopped(BaseException):
    """Raised inside a SPARQL worker thread past its time limit (a BaseException: rdflib must not catch it)."""


class _Offline(BaseException):
    """Raised by the audit hook when an offline SPARQL worker tries to reach the network."""


_NETWORK_EVENTS = frozenset({
    "socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
    "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg", "urllib.Request",
})
_worker = threading.local()
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _NETWORK_EVENTS and getattr(_worker, "offline", False):
        raise _Offline(event)


def _install_hook() -> None:
    """One process-wide audit hook; it acts only in SPARQL worker threads marked offline."""
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


def _interrupt(thread: threading.Thread) -> None:
    """Raise _Stopped in ``thread`` at its next Python bytecode."""
    if thread.ident is None:
        return
    tid = ctypes.c_ulong(thread.ident)
    if ctypes.pythonapi.PyThreadState_SetAsyncExc(tid, ctypes.py_object(_Stopped)) > 1:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(tid, None)  # never more than the one thread


def run_limited(job: Callable[[], T], timeout: float, *, offline: bool, grace: float = 2.0) -> T:
    """Run ``job`` in a worker thread; past ``timeout`` seconds stop it and raise SparqlTimeout.

    rdflib evaluates in pure Python, so a stopped query is interrupted, not left running in the background.
    ``offline``: the worker cannot open a connection or resolve a name (SparqlRefused if it tries).
    ``grace``: how long to wait for the stopped worker (one blocked in a socket stops when the socket times out).
    """
    if offline:
        _install_hook()
    box: dict[str, Any] = {}

    def run() -> None:
        _worker.offline = offline
        try:
            box["result"] = job()
        except _Stopped:
            pass
        except BaseException as exc:
            box["error"] = exc

    worker = threading.Thread(target=run, name="policykg-sparql", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if worker.is_alive():
        _interrupt(worker)
        worker.join(grace)
        raise SparqlTimeout(f"SPARQL query stopped after {timeout:g} s")
    error = box.get("error")
    if isinstance(error, _Offline):
        raise SparqlRefused("the query tried to reach the network; refused") from None
    if error is not None:
        raise error
    result: T = box["result"]
    return result


# ---------------------------------------------------------------- results
def result_rows(result: Any, limit: int) -> dict[str, Any]:
    """An rdflib query Result as the JSON-ready answer, at most ``limit`` rows or triples."""
    if result.type == "ASK":
        return {"type": "ask", "boolean": bool(result.askAnswer)}
    if result.type in ("CONSTRUCT", "DESCRIBE"):
        triples = [[str(t) for t in triple] for _, triple in zip(range(limit), result.graph or [], strict=False)]
        return {"type": "graph", "triples": triples, "truncated": len(result.graph or []) > limit}
    variables = [str(v) for v in result.vars or []]
    rows: list[dict[str, str | None]] = []
    truncated = False
    for row in result:
        if len(rows) >= limit:
            truncated = True
            break
        rows.append({v: (str(row[i]) if row[i] is not None else None) for i, v in enumerate(variables)})
    return {"type": "select", "vars": variables, "rows": rows, "truncated": truncated}


# ---------------------------------------------------------------- embedded
class EmbeddedGraph:
    """The RDF graph built by rdflib from the store, in this process (rebuilt when the store changes)."""

    name = "embedded"

    def __init__(self, store: SQLiteStore, *, allow_federation: bool = ALLOW_FEDERATION) -> None:
        self.store = store
        self.allow_federation = allow_federation
        self._cached: tuple[int, Graph] | None = None
        self._lock = threading.Lock()

    def graph(self) -> Graph:
        """The rdflib graph of the store's current generation (built at first use after a change)."""
        with self._lock:
            generation = self.store.generation()
            if self._cached is None or self._cached[0] != generation:
                self._cached = (generation, build_rdf(self.store))
            return self._cached[1]

    def query(self, query: str, *, limit: int = 10_000, timeout: float = 30.0) -> dict[str, Any]:
        """Check and run a read-only query on the graph; rows and time are capped (see GraphBackend)."""
        graph = self.graph()  # built outside the timed part

        def job() -> dict[str, Any]:
            checked = check_query(query, allow_federation=self.allow_federation, named_graphs=None)
            try:
                return result_rows(graph.query(checked.prepared), limit)
            except Exception as exc:  # what rdflib cannot evaluate is the query's problem, not the server's
                log.info("SPARQL evaluation failed: %s", type(exc).__name__)  # no query text in the logs
                first = str(exc).splitlines()[0][:200] if str(exc) else ""
                raise SparqlRefused(f"cannot evaluate this SPARQL query ({type(exc).__name__}: {first})") from exc

        return run_limited(job, timeout, offline=not self.allow_federation)

    def sync(self, store: SQLiteStore) -> dict[str, Any]:
        """Nothing to do: the graph is rebuilt from the store when it changes."""
        return {}
