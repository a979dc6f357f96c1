"""``KnowledgeBase``: the one front object. Ingest files; ask for measures, units, passages.

A thin composition: the configuration (``api/config.py``) picks the backends once
(``api/factory.py``); ingest is the pipeline of ``ingest/pipeline.py``; reads are the store's read
models; search is ``search/searcher.py``. Errors leave as the one-line types of ``api/errors.py``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import networkx as nx
from rdflib import Graph

from policykg.api.config import Config, Engine, load_config
from policykg.api.errors import IngestLocked, InvalidParameter, NotFound, translated
from policykg.api.factory import make_backends, make_engine
from policykg.graph import readmodels as rm
from policykg.graph.export import write_graphml, write_rdf
from policykg.graph.model import DocType, LinkMethod, MeasureStatus, Regulation, Unit, check_choice
from policykg.graph.networkx_view import build_graph
from policykg.graph.store import SQLiteStore
from policykg.ingest import laws, pipeline
from policykg.ingest.metadata import Metadata, read_manifest
from policykg.ingest.pipeline import DocumentStep, IngestReport, Progress
from policykg.ingest.protocols import Encoder, Linker
from policykg.search import across_years
from policykg.search.encoders import load_encoder
from policykg.search.filters import Filters
from policykg.search.ranking import Mode
from policykg.search.searcher import Hit, Searcher
from policykg.search.semantic_links import semantic_links
from policykg.search.tokenize import Tokenizer

SERVER_HINT = " (the store is intact; rerun `policykg sync` when the server is back)"


class KnowledgeBase:
    """Documents in, a graph and a search index out; every answer carries its evidence."""

    def __init__(self, data_dir: str | Path | None = None, *, config: Config | None = None, encoder: Encoder | None = None) -> None:
        self.config = config or load_config(data_dir)
        if data_dir is not None:
            self.config.data_dir = Path(data_dir)
        self.data_dir = self.config.data_dir
        with translated():
            self.store = SQLiteStore(self.data_dir / "policykg.sqlite")
        self._encoder = encoder
        self.components = make_backends(self.config, self.store)
        self.searcher = Searcher(
            self.store, self.components.vectors, self.components.keywords, self.encoder, weights=self.config.weights,
        )

    def encoder(self) -> Encoder:
        """The embedding model, loaded at first use (once per process)."""
        if self._encoder is None:
            self._encoder = load_encoder(self.config.model)
        return self._encoder

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
        given = metadata or Metadata()
        items = [(path, given.over(rows.get(path.resolve(), Metadata()))) for path in files]
        settings = dataclasses.replace(self.config, ingest=dataclasses.replace(
            self.config.ingest, engine=engine or self.config.ingest.engine, address=address or self.config.ingest.address,
        ))
        with self._ingest_lock(), translated(SERVER_HINT):
            step = DocumentStep(Tokenizer.from_regulations, tuple(self.store.regulations()), self.config.ingest.embed_batch_size)
            return pipeline.run(
                self.store, items, engine=make_engine(settings, self.encoder), step=step, linkers=self._linkers(),
                syncers=self.components.syncers, indexers=[self.searcher], progress=progress, report=report,
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
        filters = self._filters(year, year_from, year_to, doc_type, issuer, regulation)
        with translated():
            return self.searcher.search(query, k=k, filters=filters, mode=mode, group_by_doc=group_by_doc)

    def search_batch(self, requests: Iterable[dict[str, Any]], *, mode: Mode = "hybrid") -> list[list[Hit]]:
        """Many queries at once: ``{"q", "k", "type", "year", "from", "to", "issuer", "regulation", "mode"}`` each."""
        batch = []
        for r in requests:
            if not isinstance(r.get("q"), str) or not r["q"].strip():
                raise InvalidParameter(f"batch request without a query string: {r!r}")
            f = self._filters(r.get("year"), r.get("from"), r.get("to"), r.get("type"), r.get("issuer"), r.get("regulation"))
            batch.append((r["q"], int(r.get("k", 10)), f, r.get("mode", mode)))
        with translated():
            return self.searcher.search_many(batch)

    def timeline(self, query: str, *, per_year: int = 3, issuer: str | None = None, mode: Mode = "hybrid") -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``."""
        with translated():
            return self.searcher.timeline(query, per_year=per_year, filters=Filters(issuer=issuer), mode=mode)

    def _filters(self, year: Any, year_from: Any, year_to: Any, doc_type: Any, issuer: Any, regulation: Any) -> Filters:
        with translated():
            check_choice(doc_type, DocType, "type")
        try:
            reg_id = self.find_regulation(regulation).id if regulation else None
        except NotFound as exc:
            raise InvalidParameter(str(exc)) from exc
        as_int = [int(v) if v is not None else None for v in (year, year_from, year_to)]
        return Filters(as_int[0], as_int[1], as_int[2], doc_type, issuer, reg_id)

    # ------------------------------------------------------------------ graph reads
    def regulations(self) -> list[rm.RegulationSummary]:
        return self.store.regulation_summaries()

    def find_regulation(self, name: str) -> Regulation:
        """By id, canonical name, any alias, or any form with the same key (科技进步法)."""
        key = laws.regulation_key(name)
        for r in self.store.regulations():
            if name in (r.id, r.name) or name in r.aliases or r.key == key:
                return r
        raise NotFound(f"no regulation named {name!r} (see `policykg regulations`)")

    def regulation(self, name: str) -> rm.RegulationDetail:
        return _found(self.store.regulation_detail(self.find_regulation(name).id), name)

    def measures_for(self, regulation: str, *, year: int | None = None, methods: Sequence[str] | None = None) -> rm.RegulationMeasures:
        """Which measures implement a regulation, each with every piece of evidence."""
        with translated():
            for method in methods or ():
                check_choice(method, LinkMethod, "method")
        reg = self.find_regulation(regulation)
        return _found(self.store.regulation_measures(reg.id, year=year, methods=methods), regulation)

    def measure(self, measure_id: str) -> rm.MeasureDetail:
        return _found(self.store.measure_detail(measure_id), measure_id, "measure")

    def units(self) -> list[rm.UnitSummary]:
        return self.store.unit_summaries()

    def find_unit(self, name: str) -> Unit:
        for u in self.store.units():
            if name in (u.id, u.name) or name in u.aliases:
                return u
        raise NotFound(f"no unit named {name!r} (see `policykg units`)")

    def unit(self, name: str) -> rm.UnitDetail:
        """A unit, its parent and sub-units, and the measures it is responsible for."""
        return _found(self.store.unit_detail(self.find_unit(name).id), name)

    def documents(self) -> list[rm.DocumentSummary]:
        return self.store.documents()

    def document(self, doc_id: str) -> rm.DocumentDetail:
        """By id, or a unique prefix of it."""
        doc = self.store.document_detail(doc_id)
        if doc is None:
            matches = [d.id for d in self.store.documents() if d.id.startswith(doc_id) or d.id == f"doc:{doc_id}"]
            doc = self.store.document_detail(matches[0]) if len(matches) == 1 else None
        if doc is None:
            raise NotFound(f"no document {doc_id!r} (see `policykg documents`)")
        return doc

    def stats(self) -> dict[str, Any]:
        return self.store.counts()

    # ------------------------------------------------------------------ graph views
    def graph(self, *, year: int | None = None) -> nx.MultiDiGraph:
        """The whole knowledge graph as networkx (nodes typed, ``implements`` edges with evidence)."""
        return build_graph(self.store, year=year)

    def rdf(self) -> Graph:
        """The graph as RDF (rdflib), rebuilt when the store changes."""
        return self.components.rdf.graph()

    def export(self, fmt: str, out: str | Path) -> int:
        """Write the graph as turtle, jsonld, nt or graphml; returns the number of triples or edges."""
        with translated():
            return write_graphml(self.graph(), Path(out)) if fmt == "graphml" else write_rdf(self.rdf(), fmt, Path(out))

    def sparql(self, query: str, *, limit: int = 10_000, timeout: float = 30.0) -> dict[str, Any]:
        """Run a read-only SPARQL query; updates, SERVICE, LOAD and foreign FROM are refused; rows and time are capped."""
        with translated():
            return self.components.graph.query(query, limit=limit, timeout=timeout)

    # ------------------------------------------------------------------ across the years
    def diff(self, issuer: str, year_from: int, year_to: int, *, status: MeasureStatus | None = None) -> dict[str, Any]:
        """Continued, new and dropped measures of the report on ``year_to`` against the one on ``year_from``."""
        with translated():
            check_choice(status, MeasureStatus, "status")
            return across_years.diff(self.store, self._encoder, issuer, int(year_from), int(year_to), status=status)

    def plans(self, issuer: str, year: int) -> dict[str, Any]:
        """The measures planned for ``year`` against the report on ``year``: carried out or not reported."""
        with translated():
            return across_years.plans(self.store, self._encoder, issuer, int(year))

    def indicators(self, issuer: str, name: str | None = None) -> list[dict[str, Any]]:
        """Indicator series (targets and actuals) of ``issuer``'s reports, optionally one name or variant."""
        if not across_years.issuer_reports(self.store, issuer):
            raise NotFound(f"no report of {issuer!r} (see `policykg documents`)")
        return across_years.indicators(self.store, issuer, name)


def _found(value: Any, name: str, what: str = "") -> Any:
    if value is None:
        raise NotFound(f"no {what + ' ' if what else ''}{name!r}")
    return value


__all__ = ["Config", "IngestReport", "KnowledgeBase"]
