"""``KnowledgeBase``: the one front object. Ingest files; ask for measures, units, passages."""

from __future__ import annotations

import ctypes
import fcntl
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
from rdflib import Graph

from policykg.graph.build import build_graph
from policykg.graph.model import Document, Regulation, Unit
from policykg.graph.rdf import PREFIXES, build_rdf
from policykg.graph.remote import GraphServerError, SparqlEndpoint, SparqlServerGraph, sync_graph
from policykg.graph.store import SQLiteStore, StoreError
from policykg.ingest import laws
from policykg.ingest.linking import rule_links
from policykg.ingest.pipeline import ManifestError, Metadata, Prepared, collect_files, prepare, read_manifest
from policykg.ingest.readers import ReadError
from policykg.search.embeddings import DEFAULT_MODEL, Encoder, load_encoder
from policykg.search.links import DEFAULT_THRESHOLD, semantic_links
from policykg.search.milvus import DEFAULT_COLLECTION, MilvusIndex, VectorServerError, sync_vectors
from policykg.search.passages import Embedded, embed_prepared
from policykg.search.ranking import FusionWeights, Mode
from policykg.search.searcher import Filters, Hit, Searcher

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (file name, index, total)


class KnowledgeBaseError(Exception):
    """A user-facing error: one line, no traceback needed."""


class IngestLocked(KnowledgeBaseError):
    """Another ingest holds the data directory."""


class NotFound(KnowledgeBaseError):
    """No regulation, unit, measure or document by that name or id."""


class BackendUnavailable(KnowledgeBaseError):
    """A configured server (SPARQL graph, Milvus vectors) cannot be reached or refused a request."""


CONFIG_FILE = "policykg.toml"
_ENV = {
    "graph_url": "POLICYKG_GRAPH_URL", "graph_update_url": "POLICYKG_GRAPH_UPDATE_URL", "graph_auth": "POLICYKG_GRAPH_AUTH",
    "graph_store_url": "POLICYKG_GRAPH_STORE_URL",
    "vectors_url": "POLICYKG_VECTORS_URL", "vectors_collection": "POLICYKG_VECTORS_COLLECTION", "vectors_token": "POLICYKG_VECTORS_TOKEN",
}


@dataclass
class Config:
    """Where the data lives and how search behaves; every field has a sensible default."""

    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("POLICYKG_DATA", "policykg-data")))
    model: str = field(default_factory=lambda: os.environ.get("POLICYKG_MODEL", DEFAULT_MODEL))
    threads: int | None = None
    index_kind: str = "auto"  # auto | flat | hnsw
    semantic_links: bool = True
    semantic_threshold: float = DEFAULT_THRESHOLD
    embed_batch_size: int = 32
    weights: FusionWeights = field(default_factory=FusionWeights)
    # Servers (none: everything embedded in the data directory). Environment variables win over
    # the data directory's policykg.toml ([graph] url, update_url, auth, batch, store_url; [vectors] url,
    # collection, token).
    graph_url: str | None = field(default_factory=lambda: os.environ.get(_ENV["graph_url"]))
    graph_update_url: str | None = field(default_factory=lambda: os.environ.get(_ENV["graph_update_url"]))
    graph_auth: str | None = field(default_factory=lambda: os.environ.get(_ENV["graph_auth"]))
    graph_batch: int = 5_000
    graph_store_url: str | None = field(default_factory=lambda: os.environ.get(_ENV["graph_store_url"]))
    vectors_url: str | None = field(default_factory=lambda: os.environ.get(_ENV["vectors_url"]))
    vectors_collection: str | None = field(default_factory=lambda: os.environ.get(_ENV["vectors_collection"]))
    vectors_token: str | None = field(default_factory=lambda: os.environ.get(_ENV["vectors_token"]))

    def read_file(self, path: Path) -> None:
        """Fill the server settings not given by the environment from ``policykg.toml``."""
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise KnowledgeBaseError(f"{path}: cannot read the configuration ({exc})") from exc
        for section, keys in (("graph", ("url", "update_url", "auth", "batch", "store_url")), ("vectors", ("url", "collection", "token"))):
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise KnowledgeBaseError(f"{path}: [{section}] must be a table")
            for key in keys:
                name = f"{section}_{key}"
                if key in table and (getattr(self, name) is None or name == "graph_batch"):
                    value = table[key]
                    if not isinstance(value, int if key == "batch" else str):
                        raise KnowledgeBaseError(f"{path}: {section}.{key} must be a {'number' if key == 'batch' else 'string'}")
                    setattr(self, name, value)

    @property
    def servers(self) -> bool:
        return bool(self.graph_url or self.vectors_url)


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: "<file>: <reason>"
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


class KnowledgeBase:
    """Documents in, a graph and a search index out; every answer carries its evidence."""

    def __init__(self, data_dir: str | Path | None = None, *, config: Config | None = None, encoder: Encoder | None = None) -> None:
        self.config = config or Config()
        if data_dir is not None:
            self.config.data_dir = Path(data_dir)
        self.data_dir = self.config.data_dir
        try:
            self.store = SQLiteStore(self.data_dir / "policykg.sqlite")
        except (StoreError, OSError) as exc:
            raise KnowledgeBaseError(str(exc)) from exc
        self._encoder = encoder
        self._rdf: tuple[int, Graph] | None = None
        self.config.read_file(self.data_dir / CONFIG_FILE)
        self.graph_server: SparqlServerGraph | None = None
        self.vector_server: MilvusIndex | None = None
        try:
            if self.config.graph_url:
                self.graph_server = SparqlServerGraph(SparqlEndpoint(
                    self.config.graph_url, self.config.graph_update_url, self.config.graph_auth, batch=self.config.graph_batch,
                    store_url=self.config.graph_store_url,
                ))
            if self.config.vectors_url:
                self.vector_server = MilvusIndex(
                    self.config.vectors_url, self.config.vectors_collection or DEFAULT_COLLECTION, token=self.config.vectors_token,
                )
        except VectorServerError as exc:
            raise BackendUnavailable(str(exc)) from exc
        self.searcher = Searcher(
            self.store, self.data_dir / "index", self.encoder, weights=self.config.weights,
            index_kind=self.config.index_kind, threads=self.config.threads, remote_vectors=self.vector_server,
        )

    def encoder(self) -> Encoder:
        """The embedding model, loaded at first use (once per process)."""
        if self._encoder is None:
            self._encoder = load_encoder(self.config.model)
        return self._encoder

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ ingest
    @contextmanager
    def _ingest_lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.data_dir / "ingest.lock", "w")  # noqa: SIM115
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise IngestLocked(f"{self.data_dir}: another ingest is running on this data directory") from exc
            yield
        finally:
            fh.close()

    def ingest(
        self,
        paths: Sequence[str | Path],
        *,
        manifest: str | Path | None = None,
        metadata: Metadata | None = None,
        progress: Progress | None = None,
        engine: str = "local",
        address: str | None = None,
    ) -> IngestReport:
        """Ingest files and directories (walked recursively). Bad files are reported, not fatal.

        With a manifest and no paths, the manifest's rows are ingested. The same content twice
        adds nothing; changed content at a known path replaces the old version. ``engine="ray"``
        reads, extracts and embeds on a Ray cluster (``address``; a local one by default) and
        writes here, with the same results as the local engine.
        """
        started = time.perf_counter()
        report = IngestReport()
        rows: dict[Path, Metadata] = {}
        if manifest is not None:
            try:
                rows = read_manifest(Path(manifest))
            except ManifestError as exc:
                raise KnowledgeBaseError(str(exc)) from exc
        targets = [Path(p) for p in paths] or list(rows)
        files, problems = collect_files(targets)
        report.failed.extend(problems)
        given = metadata or Metadata()
        items: list[tuple[Path, Metadata]] = []
        for path in files:
            row = rows.get(path.resolve(), Metadata())
            items.append((path, Metadata(
                given.doc_type or row.doc_type, given.title or row.title, given.issuer or row.issuer,
                given.year or row.year, given.published or row.published,
            )))
        if engine not in ("local", "ray"):
            raise KnowledgeBaseError(f"engine must be local or ray, not {engine!r}")
        with self._ingest_lock():
            if engine == "ray":
                self._ingest_ray(items, report, address, progress)
            for i, (path, meta) in enumerate(items if engine == "local" else []):
                if progress:
                    progress(path.name, i, len(files))
                try:
                    self._ingest_one(path, meta, report)
                except ReadError as exc:
                    report.failed.append(str(exc))
                except KnowledgeBaseError:
                    raise
                except Exception as exc:  # a bug on one odd file must not stop the batch
                    log.exception("ingest of %s failed", path)
                    report.failed.append(f"{path.name}: could not be processed ({type(exc).__name__}: {exc})")
            if progress:
                progress("linking", len(files), len(files))
            if self.store.links_dirty():
                self.relink()
            self._sync_servers()
            self.searcher.refresh(write=True)
        report.seconds = time.perf_counter() - started
        return report

    def _ingest_one(self, path: Path, meta: Metadata, report: IngestReport) -> None:
        prepared = prepare(path, meta)
        if self._is_known(prepared, path, report):
            return
        self.store_prepared(path, embed_prepared(prepared, self.encoder(), self.config.embed_batch_size), report)

    def _ingest_ray(self, items: list[tuple[Path, Metadata]], report: IngestReport, address: str | None, progress: Progress | None) -> None:
        from policykg.api.distributed import RayUnavailable, embed_with_ray

        known = self.store.fingerprints()
        try:
            for i, (path, result) in enumerate(embed_with_ray(
                items, model=self.config.model, batch_size=self.config.embed_batch_size, address=address, skip=known,
                threads=self.config.threads,
            )):
                if progress:
                    progress(path.name, i, len(items))
                if isinstance(result, str):
                    report.failed.append(result)
                elif result is None:
                    report.unchanged.append(str(path))
                else:
                    self.store_prepared(path, result, report)
        except RayUnavailable as exc:
            raise KnowledgeBaseError(str(exc)) from exc

    def _is_known(self, prepared: Prepared, path: Path, report: IngestReport) -> bool:
        """Already stored (same fingerprint, or the same text under another path): nothing to add."""
        doc = prepared.document
        if self.store.find_document(fingerprint=prepared.fingerprint) or (
            self.store.find_document(path=doc.path) is None and self.store.find_document(doc_id=doc.id) is not None
        ):
            report.unchanged.append(str(path))
            return True
        return False

    def store_prepared(self, path: Path, ready: Embedded, report: IngestReport) -> None:
        """Write one read, extracted and embedded document (replacing an older version at its path)."""
        prepared = ready.prepared
        if self._is_known(prepared, path, report):
            return
        old = self.store.find_document(path=prepared.document.path)
        self.store.write_document(
            prepared.extraction, ready.vectors, ready.tokens, replace=old["id"] if old else None, fingerprint=prepared.fingerprint,
        )
        (report.replaced if old else report.added).append(str(path))

    def sync(self) -> dict[str, Any]:
        """Push the store's graph and vectors to the configured servers (only what changed)."""
        with self._ingest_lock():
            return self._sync_servers()

    def _sync_servers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            if self.graph_server is not None:
                out["graph"] = sync_graph(self.store, self.graph_server)
            if self.vector_server is not None:
                out["vectors"] = sync_vectors(self.store, self.vector_server)
        except (GraphServerError, VectorServerError) as exc:
            raise BackendUnavailable(f"{exc} (the store is intact; rerun `policykg sync` when the server is back)") from exc
        return out

    def relink(self) -> int:
        """Recompute every Measure → Regulation link (citation, alias, topic, semantic)."""
        store = self.store
        with store.snapshot():
            docs = {d["id"]: d for d in store.documents()}
            documents = {i: doc for i in docs if (doc := store.document(i)) is not None and doc.doc_type == "report"}
            measures = store.measures()
            regulations = store.regulations()
            links = rule_links(documents, measures, regulations, store.citations(), store.articles())
            if self.config.semantic_links:
                links += semantic_links(store, threshold=self.config.semantic_threshold)
        store.replace_links(links)
        return len(links)

    # ------------------------------------------------------------------ search
    def search(
        self,
        query: str,
        *,
        k: int = 10,
        year: int | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        doc_type: str | None = None,
        issuer: str | None = None,
        regulation: str | None = None,
        mode: Mode = "hybrid",
        group_by_doc: bool = False,
    ) -> list[Hit]:
        """Hybrid (dense + BM25) search over report passages and regulation articles."""
        filters = self._filters(year, year_from, year_to, doc_type, issuer, regulation)
        with _backend_errors():
            return self.searcher.search(query, k=k, filters=filters, mode=mode, group_by_doc=group_by_doc)

    def search_batch(self, requests: Iterable[dict[str, Any]], *, mode: Mode = "hybrid") -> list[list[Hit]]:
        """Many queries at once: ``{"q", "k", "type", "year", "from", "to", "issuer", "mode"}`` each."""
        batch = []
        for r in requests:
            if not isinstance(r.get("q"), str) or not r["q"].strip():
                raise KnowledgeBaseError(f"batch request without a query string: {r!r}")
            f = self._filters(r.get("year"), r.get("from"), r.get("to"), r.get("type"), r.get("issuer"), r.get("regulation"))
            batch.append((r["q"], int(r.get("k", 10)), f, r.get("mode", mode)))
        with _backend_errors():
            return self.searcher.search_many(batch)

    def timeline(self, query: str, *, per_year: int = 3, issuer: str | None = None, mode: Mode = "hybrid") -> dict[int, list[Hit]]:
        """For each year of the reports in the store, the best passages on ``query``."""
        with _backend_errors():
            return self.searcher.timeline(query, per_year=per_year, filters=Filters(issuer=issuer), mode=mode)

    def _filters(self, year: Any, year_from: Any, year_to: Any, doc_type: Any, issuer: Any, regulation: Any) -> Filters:
        if doc_type not in (None, "report", "regulation"):
            raise KnowledgeBaseError(f"type must be report or regulation, not {doc_type!r}")
        reg_id = self.find_regulation(regulation).id if regulation else None
        return Filters(
            int(year) if year is not None else None, int(year_from) if year_from is not None else None,
            int(year_to) if year_to is not None else None, doc_type, issuer, reg_id,
        )

    # ------------------------------------------------------------------ graph reads
    def regulations(self) -> list[dict[str, Any]]:
        counts = {r["regulation_id"]: r for r in self.store.query(
            "SELECT regulation_id, count(DISTINCT measure_id) AS measures, count(*) AS links FROM links GROUP BY regulation_id"
        )}
        arts = {r["regulation_id"]: r["n"] for r in self.store.query(
            "SELECT a.regulation_id, count(*) AS n FROM articles a JOIN regulations r "
            "ON r.id = a.regulation_id AND r.doc_id = a.doc_id GROUP BY a.regulation_id"
        )}
        return [
            {**self._reg_dict(r), "articles": arts.get(r.id, 0), "measures": counts.get(r.id, {}).get("measures", 0), "links": counts.get(r.id, {}).get("links", 0)}
            for r in self.store.regulations()
        ]

    @staticmethod
    def _reg_dict(r: Regulation) -> dict[str, Any]:
        return {"id": r.id, "name": r.name, "aliases": r.aliases, "kind": r.kind, "doc_id": r.doc_id, "topic": r.topic, "jurisdiction": r.jurisdiction}

    def find_regulation(self, name: str) -> Regulation:
        """By id, canonical name, any alias, or any form with the same key (科技进步法)."""
        regs = self.store.regulations()
        key = laws.regulation_key(name)
        for r in regs:
            if name in (r.id, r.name) or name in r.aliases or r.key == key:
                return r
        raise NotFound(f"no regulation named {name!r} (see `policykg regulations`)")

    def regulation(self, name: str) -> dict[str, Any]:
        r = self.find_regulation(name)
        articles = [
            {"id": a.id, "label": a.label, "number": a.number, "chapter": a.chapter, "text": a.text, "start": a.start, "end": a.end}
            for a in self.store.articles(r.id)
        ]
        return {**self._reg_dict(r), "articles": articles}

    def measures_for(self, regulation: str, *, year: int | None = None, methods: Sequence[str] | None = None) -> dict[str, Any]:
        """Which measures implement a regulation, each with every piece of evidence."""
        reg = self.find_regulation(regulation)
        links = [l for l in self.store.links(regulation_id=reg.id) if not methods or l.evidence.method in methods]
        by_measure: dict[str, list[dict[str, Any]]] = {}
        for l in links:
            ev = l.evidence.to_dict()
            by_measure.setdefault(l.measure_id, []).append(
                {k: ev[k] for k in ("method", "quote", "start", "end", "article", "score", "mention", "mention_start", "mention_end")}
            )
        measures = self._measures_by_id(list(by_measure))
        out = []
        for mid, evidence in by_measure.items():
            m = measures.get(mid)
            if m is None or (year is not None and m["year"] != year):
                continue
            evidence.sort(key=lambda e: (["citation", "alias", "topic", "semantic"].index(e["method"]), e["start"]))
            out.append({**m, "evidence": evidence})
        out.sort(key=lambda m: (m["year"] or 0, m["document"]["title"], m["start"]))
        return {"regulation": {k: v for k, v in self._reg_dict(reg).items() if k in ("id", "name", "aliases", "kind")}, "measures": out}

    def _measures_by_id(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        units = {u.id: u for u in self.store.units()}
        rows: list[dict[str, Any]] = []
        for chunk in range(0, len(ids), 900):
            part = list(ids[chunk: chunk + 900])
            rows += self.store.query(
                "SELECT m.*, d.title AS doc_title, d.path AS doc_path FROM measures m JOIN documents d ON d.id = m.doc_id "
                f"WHERE m.id IN ({','.join('?' * len(part))})", part,
            )
        mu: dict[str, list[str]] = {}
        for chunk in range(0, len(ids), 900):
            part = list(ids[chunk: chunk + 900])
            for r in self.store.query(f"SELECT measure_id, unit_id FROM measure_units WHERE measure_id IN ({','.join('?' * len(part))}) ORDER BY rank", part):
                mu.setdefault(r["measure_id"], []).append(r["unit_id"])
        return {
            r["id"]: {
                "id": r["id"], "title": r["title"], "text": r["text"], "year": r["year"], "status": r["status"],
                "start": r["start"], "end": r["end"],
                "document": {"id": r["doc_id"], "title": r["doc_title"], "path": r["doc_path"]},
                "section": r["section"],
                "units": [{"id": u, "name": units[u].name} for u in mu.get(r["id"], []) if u in units],
            }
            for r in rows
        }

    def measure(self, measure_id: str) -> dict[str, Any]:
        m = self._measures_by_id([measure_id]).get(measure_id)
        if m is None:
            raise NotFound(f"no measure {measure_id!r}")
        regs = {r.id: r for r in self.store.regulations()}
        links = [
            {"regulation": {"id": l.regulation_id, "name": regs[l.regulation_id].name}, **l.evidence.to_dict()}
            for l in self.store.links(measure_id=measure_id) if l.regulation_id in regs
        ]
        indicators = [i.__dict__ for i in self.store.indicators() if i.measure_id == measure_id]
        return {**m, "links": links, "indicators": indicators}

    def units(self) -> list[dict[str, Any]]:
        counts = {r["unit_id"]: r["n"] for r in self.store.query("SELECT unit_id, count(*) AS n FROM measure_units GROUP BY unit_id")}
        return [{**self._unit_dict(u), "measures": counts.get(u.id, 0)} for u in self.store.units()]

    @staticmethod
    def _unit_dict(u: Unit) -> dict[str, Any]:
        return {"id": u.id, "name": u.name, "kind": u.kind, "parent_id": u.parent_id, "aliases": u.aliases}

    def find_unit(self, name: str) -> Unit:
        units = self.store.units()
        for u in units:
            if name in (u.id, u.name) or name in u.aliases:
                return u
        raise NotFound(f"no unit named {name!r} (see `policykg units`)")

    def unit(self, name: str) -> dict[str, Any]:
        """A unit, its parent and sub-units, and the measures it is responsible for."""
        u = self.find_unit(name)
        all_units = self.store.units()
        ids = [r["measure_id"] for r in self.store.query("SELECT measure_id FROM measure_units WHERE unit_id=?", (u.id,))]
        measures = sorted(self._measures_by_id(ids).values(), key=lambda m: (m["year"] or 0, m["start"]))
        parent = next((self._unit_dict(p) for p in all_units if p.id == u.parent_id), None)
        children = [self._unit_dict(c) for c in all_units if c.parent_id == u.id]
        return {**self._unit_dict(u), "parent": parent, "children": children, "measures": measures}

    def documents(self) -> list[dict[str, Any]]:
        return self.store.documents()

    def document(self, doc_id: str) -> Document:
        doc = self.store.document(doc_id)
        if doc is None:
            matches = [d for d in self.store.documents() if d["id"].startswith(doc_id) or d["id"] == f"doc:{doc_id}"]
            if len(matches) == 1:
                doc = self.store.document(matches[0]["id"])
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
        gen = self.store.generation()
        if self._rdf is None or self._rdf[0] != gen:
            self._rdf = (gen, build_rdf(self.store))
        return self._rdf[1]

    def export(self, fmt: str, out: str | Path) -> int:
        """Write the graph as turtle, jsonld, nt or graphml; returns the number of triples or edges."""
        out = Path(out)
        if fmt == "graphml":
            g = self.graph()
            nx.write_graphml(_graphml_safe(g), out)
            return int(g.number_of_edges())
        formats = {"turtle": "turtle", "ttl": "turtle", "jsonld": "json-ld", "json-ld": "json-ld", "nt": "nt", "ntriples": "nt"}
        if fmt not in formats:
            raise KnowledgeBaseError(f"unknown export format {fmt!r}: use turtle, jsonld, nt or graphml")
        g = self.rdf()
        tmp = out.with_name(out.name + ".tmp")
        g.serialize(destination=str(tmp), format=formats[fmt], encoding="utf-8")
        os.replace(tmp, out)
        return len(g)

    def sparql(self, query: str, *, limit: int = 10_000, timeout: float = 30.0) -> dict[str, Any]:
        """Run a read-only SPARQL query; updates are refused, rows and time are capped."""
        from rdflib.plugins.sparql import prepareQuery

        try:
            prepared = prepareQuery(query, initNs=dict(PREFIXES))
        except Exception as exc:
            raise KnowledgeBaseError(f"not a read-only SPARQL query ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
        server = self.graph_server
        graph = self.rdf() if server is None else None
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                if server is not None:
                    kind = str(prepared.algebra.name).removesuffix("Query").upper()  # SelectQuery → SELECT
                    box["result"] = _result_rows(server.query(_with_prefixes(query), kind), limit)
                else:
                    assert graph is not None
                    box["result"] = _sparql_rows(graph, prepared, limit)
            except _SparqlStopped:
                pass
            except BaseException as exc:
                box["error"] = exc

        # rdflib evaluates in pure Python: a stopped query is interrupted, not left running in the background
        worker = threading.Thread(target=run, name="policykg-sparql", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            _interrupt(worker)
            worker.join(2.0)
            raise KnowledgeBaseError(f"SPARQL query stopped after {timeout:g} s")
        if "error" in box:
            if isinstance(box["error"], GraphServerError):
                raise BackendUnavailable(str(box["error"])) from box["error"]
            raise box["error"]
        result: dict[str, Any] = box["result"]
        return result

    # ---- across the years
    def diff(self, issuer: str, year_from: int, year_to: int, *, status: str | None = None) -> dict[str, Any]:
        """Measures of the report on ``year_to`` against the report on ``year_from`` (years reviewed):
        ``continued`` pairs with score and both quotes, ``new`` and ``dropped`` measures."""
        from policykg.search.series import SeriesError
        from policykg.search.series import diff as series_diff

        if status not in (None, "done", "planned"):
            raise KnowledgeBaseError(f"status must be done or planned, not {status!r}")
        try:
            return series_diff(self.store, self._encoder, issuer, int(year_from), int(year_to), status=status)
        except SeriesError as exc:
            raise NotFound(str(exc)) from exc

    def plans(self, issuer: str, year: int) -> dict[str, Any]:
        """The measures planned for ``year`` (report on ``year - 1``) against the report on ``year``:
        ``carried out`` with the matching passage and score, or ``not reported``."""
        from policykg.search.series import SeriesError
        from policykg.search.series import plans as series_plans

        try:
            return series_plans(self.store, self._encoder, issuer, int(year))
        except SeriesError as exc:
            raise NotFound(str(exc)) from exc

    def indicators(self, issuer: str, name: str | None = None) -> list[dict[str, Any]]:
        """Indicator series (targets and actuals) of ``issuer``'s reports, optionally one name or variant."""
        from policykg.search.series import indicators as series_indicators
        from policykg.search.series import issuer_reports

        if not issuer_reports(self.store, issuer):
            raise NotFound(f"no report of {issuer!r} (see `policykg documents`)")
        return series_indicators(self.store, issuer, name)


class _SparqlStopped(BaseException):
    """Raised inside a SPARQL worker thread past its time limit (a BaseException: rdflib must not catch it)."""


def _interrupt(thread: threading.Thread) -> None:
    """Raise _SparqlStopped in ``thread`` at its next Python bytecode."""
    if thread.ident is None:
        return
    tid = ctypes.c_ulong(thread.ident)
    if ctypes.pythonapi.PyThreadState_SetAsyncExc(tid, ctypes.py_object(_SparqlStopped)) > 1:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(tid, None)  # never more than the one thread


@contextmanager
def _backend_errors() -> Iterator[None]:
    try:
        yield
    except (GraphServerError, VectorServerError) as exc:
        raise BackendUnavailable(str(exc)) from exc


_PREFIX_RE = re.compile(r"PREFIX\s+([A-Za-z][\w.-]*)?\s*:", re.IGNORECASE)


def _with_prefixes(query: str) -> str:
    """The query with PREFIX lines for the standard prefixes it uses without declaring them."""
    declared = {m.group(1) or "" for m in _PREFIX_RE.finditer(query)}
    lines = [f"PREFIX {p}: <{ns}>" for p, ns in PREFIXES.items() if p not in declared]
    return "\n".join([*lines, query])


def _sparql_rows(graph: Graph, prepared: Any, limit: int) -> dict[str, Any]:
    return _result_rows(graph.query(prepared), limit)


def _result_rows(result: Any, limit: int) -> dict[str, Any]:
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


def _graphml_safe(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    out = nx.MultiDiGraph()
    for n, d in g.nodes(data=True):
        out.add_node(n, **{k: v for k, v in d.items() if v is not None})
    for u, v, d in g.edges(data=True):
        out.add_edge(u, v, **{k: ("" if val is None else val) for k, val in d.items()})
    return out
