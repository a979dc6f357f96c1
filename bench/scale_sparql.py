"""bench/scale.py, part 4: SPARQL on the graph grown k times (disjoint URI copies): rdflib in memory against an
Oxigraph server loaded through the Graph Store protocol."""

from __future__ import annotations

import functools
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from common import dir_mb, error_text, log, rss_mb, timed, trim
from servers import Server, running, start_oxigraph

ID_BASE = "https://policykg.org/id/"
GRAPH_BASE = "https://policykg.org/graph/"

QUERIES_SPARQL = {
    "implements": 'SELECT ?m ?title WHERE { ?m pkg:implements ?r ; rdfs:label ?title . ?r skos:prefLabel ?n . FILTER(CONTAINS(?n, "实验动物")) }',
    "per_year": "SELECT ?y (COUNT(?m) AS ?n) WHERE { ?m a pkg:Measure ; pkg:year ?y } GROUP BY ?y ORDER BY ?y",
}
_ID_URI = re.compile(r"(<" + re.escape(ID_BASE) + r"[^>]*)>")


def with_prefixes(q: str) -> str:
    from policykg.graph.rdf import PREFIXES

    return "\n".join([*(f"PREFIX {p}: <{ns}>" for p, ns in PREFIXES.items()), q])


def nt_copy(nt: str, c: int) -> str:
    """Copy ``c`` of an N-Triples text: every URI under the id base gets the suffix -c<c> (0: unchanged)."""
    return nt if c == 0 else _ID_URI.sub(lambda m: f"{m.group(1)}-c{c}>", nt)


def _all_rows(graph: Any, query: Any, _rep: int) -> list[Any]:
    """Every row of ``query`` on ``graph`` (an rdflib Graph, or a SparqlServerGraph's rdflib store)."""
    return list(graph.query(query))


def gsp_post(port: int, graph: str, body: bytes, bulk: bool = True) -> None:
    """Graph Store protocol: POST N-Triples into named graph ``graph`` of the server on 127.0.0.1:``port``;
    ``bulk``: Oxigraph's ``no_transaction`` flag (its bulk loader, not atomic)."""
    url = f"http://127.0.0.1:{port}/store?graph={urllib.parse.quote(graph, safe='')}" + ("&no_transaction" if bulk else "")
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/n-triples"})
    with urllib.request.urlopen(req, timeout=600) as r:
        r.read()


def load_copies(port: int, nt: str, copies: int, bulk: bool = True) -> float:
    """POST ``copies`` copies of the graph, one named graph each, to the Oxigraph on ``port``; the seconds taken."""
    t0 = time.perf_counter()
    for c in range(copies):
        gsp_post(port, f"{GRAPH_BASE}copy/{c}", nt_copy(nt, c).encode("utf-8"), bulk=bulk)
    return time.perf_counter() - t0


def _bench_rdflib(nt: str, k: int, reps: list[int], budget: float) -> dict[str, Any]:
    """rdflib in memory with ``k`` copies: load time, RSS growth, the queries."""
    from rdflib import Graph
    from rdflib.plugins.sparql import prepareQuery

    from policykg.graph.rdf import PREFIXES

    trim()
    rss0 = rss_mb()
    graph = Graph()
    t0 = time.perf_counter()
    for c in range(k):  # parse the same N-Triples as Oxigraph gets: every term a new object
        graph.parse(data=nt_copy(nt, c), format="nt")
    res: dict[str, Any] = {"load_s": time.perf_counter() - t0, "triples": len(graph)}
    trim()
    res["rss_mb"] = rss_mb() - rss0
    for name, q in QUERIES_SPARQL.items():
        prepared = prepareQuery(q, initNs=dict(PREFIXES))
        res[f"rows_{name}"] = len(list(graph.query(prepared)))
        res[name] = timed(reps, functools.partial(_all_rows, graph, prepared), warmup=1, budget_s=budget)
    del graph
    trim()
    return res


def _bench_oxigraph(server: Server, nt: str, k: int, reps: list[int], budget: float) -> dict[str, Any]:
    """Oxigraph with ``k`` copies loaded in bulk: load time, the queries, server RSS and disk."""
    from policykg.graph.sparql_server import SparqlEndpoint, SparqlServerGraph

    res: dict[str, Any] = {"rss_empty_mb": rss_mb(server.proc.pid, children=True)}
    res["load_s"] = load_copies(server.port, nt, k)
    graph = SparqlServerGraph(SparqlEndpoint(f"{server.url}/query", f"{server.url}/update", timeout=600))
    res["triples"] = graph.count()
    for name, q in QUERIES_SPARQL.items():
        full = with_prefixes(q)
        res[f"rows_{name}"] = len(list(graph.query_result(full)))
        # timed through the graph's rdflib store (HTTP + result parsing), like rdflib's side: without the
        # read-only check and the thread the product's query() adds
        res[name] = timed(reps, functools.partial(_all_rows, graph.store, full), warmup=1, budget_s=budget)
    res["rss_mb"] = rss_mb(server.proc.pid, children=True)
    res["disk_mb"] = dir_mb(server.data)
    return res


def work_sparql(spec: dict[str, Any]) -> dict[str, Any]:
    """rdflib in memory against Oxigraph at each number of graph copies."""
    from policykg.graph.rdf import build_rdf
    from policykg.graph.store import SQLiteStore

    tmp = Path(spec["tmp"])
    store = SQLiteStore(Path(spec["store"]) / "policykg.sqlite", readonly=True)
    t0 = time.perf_counter()
    base_graph = build_rdf(store)
    passages = store.counts()["passages"]
    store.close()
    n_base = len(base_graph)
    res: dict[str, Any] = {"base_triples": n_base, "passages": passages, "build_rdf_s": time.perf_counter() - t0, "sizes": []}
    nt = base_graph.serialize(format="nt")
    del base_graph
    trim()
    budget = spec["query_budget_s"]
    reps = list(range(spec["reps"]))
    copies: list[int] = list(spec["copies"])
    done: list[int] = []
    while copies:
        k = copies.pop(0)
        done.append(k)
        row: dict[str, Any] = {"copies": k, "triples": n_base * k}
        if k <= spec["embedded_max"]:
            log(f"  rdflib x{k} ...")
            row["rdflib"] = _bench_rdflib(nt, k, reps, budget)
        log(f"  oxigraph x{k} ...")
        ox: dict[str, Any]
        with running(start_oxigraph(tmp / f"oxigraph-{k}"), remove_data=True) as server:
            try:
                ox = _bench_oxigraph(server, nt, k, reps, budget)
            except Exception as exc:
                ox = {"error": error_text(exc)}
        if k <= spec["embedded_max"] and "error" not in ox:  # the same load, one transaction per POST
            with running(start_oxigraph(tmp / f"oxigraph-tx-{k}"), remove_data=True) as server:
                try:
                    ox["load_tx_s"] = load_copies(server.port, nt, k, bulk=False)
                    ox["disk_tx_mb"] = dir_mb(server.data)
                except Exception as exc:
                    ox["load_tx_error"] = error_text(exc, 200)
        row["oxigraph"] = ox
        res["sizes"].append(row)
        if k == 10 and spec["try_100"] and 100 not in done and "error" not in ox:
            if ox["load_s"] < 120:
                copies.append(100)
            else:
                res["skipped_100"] = f"x10 loaded in {ox['load_s']:.0f} s (> 120 s)"
    return res
