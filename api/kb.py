"""``KnowledgeBase``: the one front object. Ingest files; ask for measures, units, passages.

A thin composition: the configuration (``api/config.py``) picks the backends once
(``api/factory.py``); ingest is the pipeline of ``ingest/pipeline.py``; reads are the store's read
models; search is ``search/searcher.py``. Errors leave as the one-line types of ``api/errors.py``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykg.api import resolve
from policykg.api.analyses import Analyses
from policykg.api.config import Config, Engine, load_config
from policykg.api.errors import IngestLocked, KnowledgeBaseError, translated
from policykg.api.factory import configured_encoder, make_backends, make_engine
from policykg.graph import readmodels as rm
from policykg.graph.model import DocType, check_choice
from policykg.graph.store import SQLiteStore
from policykg.ingest import pipeline
from policykg.ingest.metadata import Metadata, read_manifest
from policykg.ingest.pipeline import DocumentStep, IngestReport, Progress
from policykg.ingest.protocols import Encoder, Linker
from policykg.search.filters import Filters
from policykg.search.ranking import Mode
from policykg.search.searcher import Hit, Searcher
from policykg.search.semantic_links import semantic_links
from policykg.search.tokenize import Tokenizer

if TYPE_CHECKING:  # networkx and rdflib load only for the graph views that return them
    import networkx as nx
    from rdflib import Graph

WARM_QUERY = "科技成果转化"
SERVER_HINT = " (the store is intact; rerun `policykg sync` when the server is back)"


class KnowledgeBase(Analyses):
    """Documents in, a graph and a search index out; every answer carries its evidence.

    The analyses over the graph (across the years, coverage, the overview) come from :class:`Analyses`.
    """

    def __init__(self, data_dir: str | Path | None = None, *, config: Config | None = None, encoder: Encoder | None = None) -> None:
        self.config = config or load_config(data_dir)
        if data_dir is not None:
            self.config.data_dir = Path(data_dir)
        self.data_dir = self.config.data_dir
        with translated():
            self.store = SQLiteStore(self.data_dir / "policykg.sqlite", full_paths=self.config.server.full_paths)
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.components = make_backends(self.config, self.store)
        self.searcher = Searcher(
            self.store, self.components.vectors, self.components.keywords, self.encoder, weights=self.config.weights,
        )

    def encoder(self) -> Encoder:
        """The embedding model, loaded at first use (once per process)."""
        if self._encoder is None:
            with self._encoder_lock:  # one load when a start-up thread and a first request ask at once
                if self._encoder is None:
                    self._encoder = configured_encoder(self.config)
        return self._encoder

    def warm(self) -> None:
        """Load what the first search needs (indexes, the tokeniser's dictionary, the encoder) now rather
        than in the first request: the HTTP app calls it at start-up."""
        with translated():
            self.searcher.search(WARM_QUERY, k=1)
            self.encoder().encode_queries([WARM_QUERY])

    def backends(self) -> dict[str, str]:
        """Where each part lives: ``{"graph": "embedded" or a URL, "vectors": "faiss" or a server}``."""
        return {"graph": self.components.graph.name, "vectors": self.components.vectors.name}

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ ingest
    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / "ingest.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IngestLocked(f"{self.data_dir}: another ingest is running on this data directory") from exc
            yield

    def ingest(
        self, paths: Sequence[str | Path], *, manifest: str | Path | None = None, metadata: Metadata | None = None,
        progress: Progress | None = None, engine: Engine | None = None, address: str | None = None,
    ) -> IngestReport:
        """Ingest files and directories (walked recursively). Bad files are reported, not fatal.

        With a manifest and no paths, the manifest's rows are ingested. The same content twice
        adds nothing; changed content at a known path replaces the old version. ``engine="ray"``
        reads, extracts and embeds on a Ray cluster (``address``; a local one by default).
        """
        with translated():
            check_choice(engine, Engine, "engine")
            rows = read_manifest(Path(manifest)) if manifest is not None else {}
        report = IngestReport()
        files, report.failed = pipeline.collect_files([Path(p) for p in paths] or list(rows))
        display = pipeline.display_paths([Path(p) for p in paths], files, Path(manifest).parent if manifest is not None else None)
        given = metadata or Metadata()
        items = [(path, given.over(rows.get(path.resolve(), Metadata()))) for path in files]
        settings = dataclasses.replace(self.config, ingest=dataclasses.replace(
            self.config.ingest, engine=engine or self.config.ingest.engine, address=address or self.config.ingest.address,
        ))
        with self._ingest_lock(), translated(SERVER_HINT):
            step = DocumentStep(
                Tokenizer.from_regulations, tuple(self.store.regulations()), self.config.ingest.embed_batch_size,
                sentences=self.config.ingest.sentence_vectors,
            )
            return pipeline.run(
                self.store, items, engine=make_engine(settings, self.encoder), step=step, linkers=self._linkers(),
                syncers=self.components.syncers, indexers=[self.searcher], progress=progress, report=report, display=display,
                encoder=self.encoder,
            )

    def _linkers(self) -> list[Linker]:
        ingest = self.config.ingest
        return [functools.partial(semantic_links, threshold=ingest.semantic_threshold)] if ingest.semantic_links else []

    def sync(self) -> dict[str, Any]:
        """Push the store's graph and vectors to the configured servers (only what changed)."""
        with self._ingest_lock(), translated(SERVER_HINT):
            return pipeline.sync(self.store, self.components.syncers)

    def relink(self) -> int:
        """Recompute every Measure → Regulation link (citation, alias, topic, semantic)."""
        return pipeline.link(self.store, self._linkers())

    # ------------------------------------------------------------------ search
    def search(
        self, query: str, *, k: int = 10, year: int | None = None, year_from: int | None = None, year_to: int | None = None,
        doc_type: DocType | None = None, issuer: str | None = None, regulation: str | None = None, mode: Mode = "hybrid",
        group_by_doc: bool = False,
    ) -> list[Hit]:
        """Hybrid (dense + BM25) search over report passages and regulation articles."""
        filters = resolve.filters(self.store, year, year_from, year_to, doc_type, issuer, regulation)
        with translated():
            return self.searcher.search(query, k=k, filters=filters, mode=mode, group_by_doc=group_by_doc)

    def search_batch(self, requests: Iterable[dict[str, Any]], *, mode: Mode = "hybrid") -> list[list[Hit]]:
        """Many queries at once: ``{"q", "k", "type", "year", "from", "to", "issuer", "regulation", "mode"}`` each."""
        batch = []
        for r in requests:
            if not isinstance(r.get("q"), str) or not r["q"].strip():
                raise KnowledgeBaseError(f"batch request without a query string: {r!r}")
            f = resolve.filters(self.store, r.get("year"), r.get("from"), r.get("to"), r.get("type"), r.get("issuer"), r.get("regulation"))
            batch.append((r["q"], int(r.get("k", 10)), f, r.get("mode", mode)))
        with translated():
            return self.searcher.search_many(batch)

    def timeline(
        self, query: str, *, per_year: int = 3, issuer: str | None = None, mode: Mode = "hybrid", keep_empty: bool = False,
    ) -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``. A year with nothing on the
        topic is left out (``keep_empty``: it maps to ``[]``) rather than shown with its least-bad passage."""
        with translated():
            return self.searcher.timeline(query, per_year=per_year, filters=Filters(issuer=issuer), mode=mode, keep_empty=keep_empty)

    # ------------------------------------------------------------------ graph reads
    def regulations(self) -> list[rm.RegulationSummary]:
        return self.store.regulation_summaries()

    def regulation(self, name: str) -> rm.RegulationDetail:
        return resolve.found(self.store.regulation_detail(self.find_regulation(name).id), name)

    def measures_for(
        self, regulation: str, *, year: int | None = None, methods: Sequence[str] | None = None,
        relations: Sequence[str] | None = ("implements",),
    ) -> rm.RegulationMeasures:
        """Which measures implement a regulation (or, with ``relations``, draft, revise or study it; ``None``:
        every relation), each with every piece of evidence."""
        resolve.methods(methods)
        resolve.relations(relations)
        reg = self.find_regulation(regulation)
        found = self.store.regulation_measures(reg.id, year=year, methods=methods, relations=relations or None)
        return resolve.found(found, regulation)

    def measure(self, measure_id: str) -> rm.MeasureDetail:
        return resolve.found(self.store.measure_detail(measure_id), measure_id, "measure")

    def units(self) -> list[rm.UnitSummary]:
        return self.store.unit_summaries()

    def unit(self, name: str) -> rm.UnitDetail:
        """A unit, its parent and sub-units, and the measures it is responsible for."""
        return resolve.found(self.store.unit_detail(self.find_unit(name).id), name)

    def documents(self) -> list[rm.DocumentSummary]:
        return self.store.documents()

    def document(self, doc_id: str) -> rm.DocumentDetail:
        """By id, or a unique prefix of it."""
        return resolve.document(self.store, doc_id)

    def stats(self) -> dict[str, Any]:
        return self.store.counts()

    # ------------------------------------------------------------------ removal
    def remove(self, refs: Sequence[str]) -> rm.RemovalReport:
        """Remove documents named by id, unique id prefix or path (as ingested or as shown), with all that
        came from them; a tombstone records each. Removing a removed document again is harmless.

        Every name is checked before anything goes (:class:`NotFound` for an unknown one). Takes the
        ingest lock; a server that fails leaves the removal done locally (``policykg sync`` completes it).
        """
        started = time.perf_counter()
        with self._ingest_lock():
            targets = [resolve.removal_target(self.store, ref) for ref in refs]
            live = list(dict.fromkeys(doc_id for doc_id, removed_before in targets if not removed_before))
            gone = list(dict.fromkeys(doc_id for doc_id, removed_before in targets if removed_before))
            with translated(SERVER_HINT):
                removed = pipeline.remove(
                    self.store, live, linkers=self._linkers(), syncers=self.components.syncers, indexers=[self.searcher],
                    tokenizer_for=Tokenizer.from_regulations,
                )
        return rm.RemovalReport(removed=removed, already_removed=gone, seconds=time.perf_counter() - started)

    def removed_documents(self) -> list[rm.RemovedDocument]:
        """The tombstones of removed documents (what, and when), the latest first."""
        return self.store.removed_documents()

    # ------------------------------------------------------------------ graph views
    def graph(self, *, year: int | None = None) -> nx.MultiDiGraph:
        """The whole knowledge graph as networkx (nodes typed, ``implements`` edges with evidence)."""
        from policykg.graph.networkx_view import build_graph

        return build_graph(self.store, year=year)

    def rdf(self) -> Graph:
        """The graph as RDF (rdflib), rebuilt when the store changes."""
        return self.components.rdf.graph()

    def export(self, fmt: str, out: str | Path) -> int:
        """Write the graph as turtle, jsonld, nt or graphml; returns the number of triples or edges."""
        from policykg.graph.export import write_graphml, write_rdf

        with translated():
            return write_graphml(self.graph(), Path(out)) if fmt == "graphml" else write_rdf(self.rdf(), fmt, Path(out))

    def sparql(self, query: str, *, limit: int = 10_000, timeout: float = 30.0) -> dict[str, Any]:
        """Run a read-only SPARQL query; updates, SERVICE, LOAD and foreign FROM are refused; rows and time are capped."""
        with translated():
            return self.components.graph.query(query, limit=limit, timeout=timeout)


__all__ = ["Config", "IngestReport", "KnowledgeBase"]
