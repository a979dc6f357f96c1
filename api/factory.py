"""Backends chosen once, from the configuration: the only place that asks which one is configured.

- graph: rdflib over the embedded store, or a SPARQL 1.1 server (``[graph] url``);
- vectors and keywords: faiss + bm25s files beside the store, or one Milvus collection (``[vectors] url``);
- ingest engine: this process, or Ray (``[ingest] engine``);
- the encoder: ``model`` on ``threads`` (:func:`configured_encoder`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from policykg.api.config import Config
from policykg.api.errors import BackendUnavailable
from policykg.graph.sparql import EmbeddedGraph, GraphBackend
from policykg.graph.store import SQLiteStore
from policykg.ingest.protocols import Encoder, Syncer
from policykg.search.backends import KeywordSearch, VectorSearch
from policykg.search.local_index import LocalIndex

if TYPE_CHECKING:
    from policykg.ingest.pipeline import Engine
    from policykg.search.milvus import MilvusIndex

# servers, Ray and the encoder are imported only where configured or used: a serving process stays lean


@dataclass
class Backends:
    """The parts a knowledge base is made of, as configured."""

    graph: GraphBackend  # where SPARQL runs
    rdf: EmbeddedGraph  # the graph built from the store (export, rdf())
    vectors: VectorSearch
    keywords: KeywordSearch
    syncers: dict[str, Syncer] = field(default_factory=dict)  # servers that mirror the store, by part


def make_backends(config: Config, store: SQLiteStore) -> Backends:
    """The graph and index backends of ``config`` over ``store`` (servers are connected here)."""
    embedded = EmbeddedGraph(store, allow_federation=config.graph.allow_federation)
    graph: GraphBackend = embedded
    syncers: dict[str, Syncer] = {}
    if config.graph.url:
        from policykg.graph.sparql_server import SparqlEndpoint, SparqlServerGraph

        server = SparqlServerGraph(
            SparqlEndpoint(
                config.graph.url, config.graph.update_url, config.graph.auth, batch=config.graph.batch,
                store_url=config.graph.store_url,
            ),
            allow_federation=config.graph.allow_federation,
        )
        graph = syncers["graph"] = server
    index: LocalIndex | MilvusIndex
    if config.vectors.url:
        from policykg.search.milvus import MilvusIndex, VectorServerError

        try:
            index = MilvusIndex(config.vectors.url, config.vectors.collection, token=config.vectors.token)
        except VectorServerError as exc:
            raise BackendUnavailable(str(exc)) from exc
        syncers["vectors"] = index
    else:
        index = LocalIndex(
            store, config.data_dir / "index", kind=config.vectors.index_kind, threads=config.threads,
            k1=config.keywords.k1, b=config.keywords.b, compress_above=config.vectors.compress_above,
            nprobe=config.vectors.nprobe or None, bm25_on_disk=config.keywords.on_disk,
        )
    return Backends(graph, embedded, index, index, syncers)


def configured_encoder(config: Config) -> Encoder:
    """The process-wide encoder of ``config``: its ``model`` on its ``threads`` (loaded once per process)."""
    from policykg.search.encoders import load_encoder

    return load_encoder(config.model, threads=config.threads)


def make_engine(config: Config, encoder: Callable[[], Encoder]) -> Engine:
    """The ingest engine of ``config``: here with ``encoder``, or on Ray (each actor loads the model)."""
    if config.ingest.engine == "ray":
        from policykg.ingest.ray_engine import RayEngine
        from policykg.search.encoders import make_encoder

        return RayEngine(functools.partial(make_encoder, config.model), address=config.ingest.address, threads=config.threads)
    from policykg.ingest.engines import LocalEngine

    return LocalEngine(encoder)


__all__ = ["Backends", "configured_encoder", "make_backends", "make_engine"]
