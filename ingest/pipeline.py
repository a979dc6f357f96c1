"""The ingest pipeline, top to bottom, as plain functions:

collect → read → extract → cut passages → embed → store → link (rules, then semantic) → sync
servers → refresh indexes.

:func:`run` is the whole of it; :func:`remove` takes documents out again (store → link → refresh →
sync). The per-document part (read → … → embed) is :class:`DocumentStep`,
which every engine runs (``policykg.ingest.engines``: in this process, or on Ray). Collaborators
from other packages (encoder, tokenizer, semantic linker, servers, indexes) come in as arguments
typed by ``policykg.ingest.protocols``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from policykg.graph.model import Document, Extraction, Regulation, content_hash, stable_id
from policykg.graph.store import SQLiteStore
from policykg.ingest.extract import extract
from policykg.ingest.linking import rule_links
from policykg.ingest.metadata import Metadata, infer_metadata
from policykg.ingest.passages import make_passages, sentence_texts
from policykg.ingest.protocols import Encoder, Indexer, Linker, Syncer, Tokenizer
from policykg.ingest.readers import SUPPORTED_SUFFIXES, ReadError, read_document

log = logging.getLogger(__name__)

SKIP_NAMES = re.compile(r"^(readme|license|licence|changelog)(\.|$)|\.csv$", re.IGNORECASE)
Progress = Callable[[str, int, int], None]  # (file name, index, total)


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: "<file>: <reason>"
    seconds: float = 0.0
    readded: list[str] = field(default_factory=list)  # files among ``added``/``replaced`` that had been removed before

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class Prepared:
    """A file read and extracted: its document, everything found in it, and its fingerprint."""

    document: Document
    extraction: Extraction
    fingerprint: str  # text + metadata: a change of either is a new version


@dataclass
class Embedded:
    """A prepared document with its passages cut, embedded and tokenised: ready to store."""

    prepared: Prepared
    vectors: np.ndarray | None
    tokens: list[str]  # per passage, its BM25 words joined by spaces
    sentence_vectors: list[np.ndarray | None] = field(default_factory=list)  # per passage: its sentences' (None: one sentence)


@dataclass
class Known:
    """The documents the store holds (kept up to date by the run): a file matching one adds nothing."""

    fingerprints: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    doc_ids: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, store: SQLiteStore) -> Known:
        paths = store.document_paths()
        return cls(set(store.fingerprints()), set(paths.values()), set(paths))

    def __contains__(self, prepared: object) -> bool:
        """Same fingerprint, or the same text under another path than its own."""
        if not isinstance(prepared, Prepared):
            return False
        doc = prepared.document
        return prepared.fingerprint in self.fingerprints or (doc.path not in self.paths and doc.id in self.doc_ids)

    def add(self, prepared: Prepared) -> None:
        self.fingerprints.add(prepared.fingerprint)
        self.paths.add(prepared.document.path)
        self.doc_ids.add(prepared.document.id)


# ---------------------------------------------------------------- collect
def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[str]]:
    """Files to ingest (directories walked recursively) and one-line problems with the paths."""
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                hidden = any(part.startswith(".") for part in f.relative_to(p).parts)
                if f.is_file() and not hidden and f.suffix.lower() in SUPPORTED_SUFFIXES and not SKIP_NAMES.search(f.name):
                    files.append(f)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or directory")
    return list(dict.fromkeys(files)), problems


def _relative(file: Path, root: Path) -> str | None:
    """``file`` relative to ``root`` (as given, else both resolved); None when it is not inside."""
    for f, r in ((file, root), (file.resolve(), root.resolve())):
        if f.is_relative_to(r):
            return f.relative_to(r).as_posix()
    return None


def display_paths(given: Iterable[Path], files: Iterable[Path], base: Path | None = None) -> dict[Path, str]:
    """The name each file is shown under (never the server's directories): relative to ``base`` (the
    manifest's folder) when inside it, else to the directory given that holds it, else its file name."""
    roots = [*([base] if base is not None else []), *(p for p in given if p.is_dir())]
    return {f: next((rel for root in roots if (rel := _relative(f, root))), f.name) for f in files}


# ---------------------------------------------------------------- read + extract
def prepare(path: Path, given: Metadata | None = None) -> Prepared:
    """Read and extract one file. Raises ReadError with a one-line reason."""
    raw = read_document(path)
    meta = infer_metadata(raw, given or Metadata())
    assert meta.doc_type is not None and meta.title is not None
    chash = content_hash(raw.text)
    doc = Document(
        id=stable_id("doc", chash),
        path=str(path.resolve()),
        title=meta.title,
        doc_type=meta.doc_type,
        text=raw.text,
        content_hash=chash,
        issuer=meta.issuer,
        year=meta.year,
        published=meta.published,
        format=raw.format,
    )
    fingerprint = content_hash(
        raw.text + json.dumps([doc.title, doc.doc_type, doc.issuer, doc.year, doc.published], ensure_ascii=False)
    )
    return Prepared(doc, extract(doc), fingerprint)


# ---------------------------------------------------------------- cut passages + embed
def embed(prepared: Prepared, encoder: Encoder, tokenizer: Tokenizer, batch_size: int = 32, *, sentences: bool = True) -> Embedded:
    """Cut passages, embed them (and their sentences) and tokenise them for BM25 (the heavy stage of ingest)."""
    return embed_documents([prepared], encoder, [tokenizer], batch_size, sentences=sentences)[0]


def embed_documents(
    prepared: Sequence[Prepared], encoder: Encoder, tokenizers: Sequence[Tokenizer], batch_size: int = 32, *,
    sentences: bool = True,
) -> list[Embedded]:
    """:func:`embed` for several documents with one encoder call: their passages and (``sentences``) the
    sentences of their longer passages are batched together by length (less padding, fuller batches than
    one document at a time), then split back per document and passage."""
    texts: list[list[str]] = []
    per_doc: list[list[list[str]]] = []
    for p in prepared:
        p.extraction.passages = make_passages(p.extraction)
        texts.append([x.embed_text for x in p.extraction.passages])
        per_doc.append([sentence_texts(x) if sentences else [] for x in p.extraction.passages])
    flat = [t for doc in texts for t in doc] + [s for doc in per_doc for ss in doc for s in ss]
    vectors = encoder.encode_passages(flat, batch_size=batch_size) if flat else None
    out: list[Embedded] = []
    start = 0
    for p, doc, tokenizer in zip(prepared, texts, tokenizers, strict=True):
        vecs = vectors[start : start + len(doc)] if vectors is not None and doc else None
        start += len(doc)
        out.append(Embedded(p, vecs, [" ".join(tokenizer.tokenize(t)) for t in doc]))
    for ready, per_passage in zip(out, per_doc, strict=True):
        if not sentences:  # nothing recorded: stored as "not embedded", filled by a run that embeds sentences
            continue
        for ss in per_passage:
            ready.sentence_vectors.append(vectors[start : start + len(ss)] if vectors is not None and ss else None)
            start += len(ss)
    return out


class TokenizerFactory(Protocol):
    """Builds the tokenizer for a document from regulations (the store's and the document's own)."""

    def __call__(self, regulations: Iterable[Regulation]) -> Tokenizer: ...


def failure(path: Path, exc: BaseException) -> str:
    """The one line reported for an unexpected error on one file."""
    return f"{path.name}: could not be processed ({type(exc).__name__}: {exc})"


@dataclass(frozen=True)
class DocumentStep:
    """read → extract → cut passages → embed → tokenise, for one file: what every engine runs.

    Picklable (an engine may ship it to other processes). The tokenizer of a document knows the
    regulation names the store held when the run started and the document's own, so the same file
    gives the same tokens whichever engine, process or order handles it.
    """

    tokenizer_for: TokenizerFactory
    regulations: tuple[Regulation, ...] = ()
    batch_size: int = 32
    sentences: bool = True  # embed the sentences of passages of several too

    def prepare(self, path: Path, meta: Metadata, known: Known) -> Prepared | str | None:
        """The file read and extracted; None when the store already holds it; a one-line error."""
        try:
            prepared = prepare(path, meta)
        except ReadError as exc:
            return str(exc)
        except Exception as exc:  # a bug on one odd file must not stop the batch
            log.exception("ingest of %s failed", path)
            return failure(path, exc)
        return None if prepared in known else prepared

    def embed(self, prepared: Prepared, encoder: Encoder) -> Embedded | str:
        """The prepared document embedded and tokenised; a one-line error."""
        try:
            tokenizer = self.tokenizer_for([*self.regulations, *prepared.extraction.regulations])
            return embed(prepared, encoder, tokenizer, self.batch_size, sentences=self.sentences)
        except Exception as exc:
            log.exception("embedding of %s failed", prepared.document.path)
            return failure(Path(prepared.document.path), exc)


    def embed_many(self, prepared: Sequence[Prepared], encoder: Encoder) -> list[Embedded | str]:
        """:meth:`embed` for several documents, their passages encoded together; when that fails, one
        document at a time (so that one bad document is reported alone)."""
        try:
            tokenizers = [self.tokenizer_for([*self.regulations, *p.extraction.regulations]) for p in prepared]
            return list(embed_documents(prepared, encoder, tokenizers, self.batch_size, sentences=self.sentences))
        except Exception:
            log.warning("embedding %d documents together failed; embedding them one by one", len(prepared))
            return [self.embed(p, encoder) for p in prepared]


class Engine(Protocol):
    """Runs the document step over files; yields ``(path, result)`` once per file, in input order.

    ``result`` is an :class:`Embedded` ready to store, None when the file is already stored
    (``known``), or a one-line error ``"<file name>: <reason>"``.
    """

    def run(
        self, items: Sequence[tuple[Path, Metadata]], step: DocumentStep, known: Known,
    ) -> Iterator[tuple[Path, Embedded | str | None]]: ...


# ---------------------------------------------------------------- store
def store_document(
    store: SQLiteStore, path: Path, ready: Embedded, report: IngestReport, known: Known, display_path: str | None = None,
) -> None:
    """Write one embedded document (shown as ``display_path``, default its file name), replacing an older
    version at its path; a known one adds nothing."""
    prepared = ready.prepared
    if prepared in known:
        report.unchanged.append(str(path))
        return
    old = store.find_document(path=prepared.document.path)
    readded = store.write_document(
        prepared.extraction, ready.vectors, ready.tokens, replace=old["id"] if old else None, fingerprint=prepared.fingerprint,
        display_path=display_path or path.name, sentence_vectors=ready.sentence_vectors,
    )
    if old:
        known.fingerprints.discard(old["fingerprint"])
        known.doc_ids.discard(old["id"])
    known.add(prepared)
    (report.replaced if old else report.added).append(str(path))
    if readded:
        report.readded.append(str(path))


# ---------------------------------------------------------------- tokens
def retokenize(store: SQLiteStore, tokenizer_for: TokenizerFactory) -> int:
    """Keep every passage tokenised with the store's vocabulary (its regulations' names, aliases, topics).

    A document is tokenised as it is stored, with the vocabulary the run started with plus its own
    regulation names; when a run (or a removal) changed the store's vocabulary, every passage is
    tokenised again, so the same text has the same tokens whatever order the documents came in, and
    queries (tokenised with the store's vocabulary) meet the same words. Returns the passages redone.
    """
    tokenizer = tokenizer_for(store.regulations())
    vocabulary = hashlib.sha1("\n".join(sorted(tokenizer.words)).encode("utf-8")).hexdigest()
    if store.token_vocabulary() == vocabulary:
        return 0
    tokens = [(pid, " ".join(tokenizer.tokenize(text))) for pid, text in store.passage_embed_texts()]
    store.replace_passage_tokens(tokens, vocabulary)
    return len(tokens)


def fill_sentence_vectors(store: SQLiteStore, encoder: Encoder, batch_size: int = 32) -> int:
    """Embed the sentences of passages stored without them (a store written before schema 3), so that
    search scores every passage by its best sentence too. Returns the passages done (0: nothing to do)."""
    todo = store.passages_without_sentence_vectors()
    if not todo:
        return 0
    texts = [sentence_texts(p) for p in todo]
    flat = [t for ts in texts for t in ts]
    vectors = encoder.encode_passages(flat, batch_size=batch_size, show_progress=True) if flat else None
    rows: list[tuple[int, np.ndarray | None]] = []
    start = 0
    for p, ts in zip(todo, texts, strict=True):
        rows.append((p.id, vectors[start : start + len(ts)] if vectors is not None and ts else None))
        start += len(ts)
    store.set_sentence_vectors(rows)
    log.info("embedded the sentences of %d passages stored without them", len(todo))
    return len(todo)


# ---------------------------------------------------------------- link
def link(store: SQLiteStore, linkers: Sequence[Linker] = ()) -> int:
    """Recompute every Measure → Regulation link: rules (citation, alias, topic), then ``linkers``."""
    with store.snapshot():
        documents = {d.id: doc for d in store.documents() if d.doc_type == "report" and (doc := store.document(d.id)) is not None}
        links = rule_links(documents, store.measures(), store.regulations(), store.citations(), store.articles())
        for linker in linkers:
            links += linker(store)
    store.replace_links(links)
    return len(links)


# ---------------------------------------------------------------- sync + refresh
def sync(store: SQLiteStore, syncers: Mapping[str, Syncer]) -> dict[str, Any]:
    """Push what changed to each configured server (``{"graph": …, "vectors": …}``); their answers by name."""
    return {name: syncer.sync(store) for name, syncer in syncers.items()}


# ---------------------------------------------------------------- the whole run
def run(
    store: SQLiteStore,
    items: Sequence[tuple[Path, Metadata]],
    *,
    engine: Engine,
    step: DocumentStep,
    linkers: Sequence[Linker] = (),
    syncers: Mapping[str, Syncer] | None = None,
    indexers: Sequence[Indexer] = (),
    progress: Progress | None = None,
    report: IngestReport | None = None,
    display: Mapping[Path, str] | None = None,
    encoder: Callable[[], Encoder] | None = None,
) -> IngestReport:
    """Ingest ``items`` (files with what the user says of them) into ``store``, then link, sync and refresh.

    ``encoder``: to embed the sentences of passages an older policykg stored without them.

    Bad files are reported, not fatal; the same content twice adds nothing; changed content at a
    known path replaces the old version. ``display`` gives the name each file is shown under (see
    :func:`display_paths`; default: its file name). A server that fails stops the run after the
    store is written (its error propagates; the store stays the record).
    """
    started = time.perf_counter()
    report = report or IngestReport()
    known = Known.of(store)
    for i, (path, result) in enumerate(engine.run(items, step, known)):
        if progress:
            progress(path.name, i, len(items))
        if isinstance(result, str):
            report.failed.append(result)
        elif result is None:
            report.unchanged.append(str(path))
        else:
            try:
                store_document(store, path, result, report, known, (display or {}).get(path))
            except Exception as exc:  # one document's write failed (rolled back): report it, go on
                log.exception("storing %s failed", path)
                report.failed.append(failure(path, exc))
    if progress:
        progress("linking", len(items), len(items))
    if encoder is not None and step.sentences and store.passages_without_sentence_vectors():
        if progress:
            progress("sentences", len(items), len(items))
        fill_sentence_vectors(store, encoder(), step.batch_size)
    retokenize(store, step.tokenizer_for)
    if store.links_dirty():
        link(store, linkers)
    sync(store, syncers or {})
    for index in indexers:
        index.refresh(write=True)
    report.seconds += time.perf_counter() - started
    return report


# ---------------------------------------------------------------- removal
def remove(
    store: SQLiteStore,
    doc_ids: Sequence[str],
    *,
    linkers: Sequence[Linker] = (),
    syncers: Mapping[str, Syncer] | None = None,
    indexers: Sequence[Indexer] = (),
    tokenizer_for: TokenizerFactory | None = None,
) -> list[str]:
    """Remove documents (one transaction, tombstones included), then retokenise if the vocabulary
    shrank (``tokenizer_for``), relink, refresh the indexes and sync.

    Relinking drops the topic and semantic links other documents had to a regulation whose text
    went. Indexes are refreshed before the servers are told, so a server that fails (its error
    propagates) leaves the store and the local indexes complete; the servers' sync is state-based,
    so a later sync (or removal) finishes the job, as it does after a kill between the steps.
    Returns the ids removed now (ids not stored are skipped).
    """
    removed = store.remove_documents(doc_ids)
    if tokenizer_for is not None:
        retokenize(store, tokenizer_for)
    if store.links_dirty():
        link(store, linkers)
    for index in indexers:
        index.refresh(write=True)
    sync(store, syncers or {})
    return removed


__all__ = [
    "DocumentStep",
    "Embedded",
    "Engine",
    "IngestReport",
    "Known",
    "Prepared",
    "Progress",
    "collect_files",
    "display_paths",
    "embed",
    "embed_documents",
    "fill_sentence_vectors",
    "link",
    "prepare",
    "remove",
    "retokenize",
    "run",
    "store_document",
    "sync",
]
