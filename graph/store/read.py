"""The store's reads of the domain model: documents, regulations, articles, measures, units, links, passages.

What linking, search, export and the servers' sync read: model objects (``Regulation``, ``Measure``,
``Link`` …), passage vectors and tokens as arrays, and a few small typed rows (:class:`PassageSyncRow`,
:class:`StoredPassage`). The read models the facade returns are in :mod:`.summaries`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Evidence,
    Indicator,
    Link,
    Measure,
    Passage,
    Regulation,
    Unit,
)
from policykg.graph.readmodels import DocumentSummary, RemovedDocument
from policykg.graph.store.schema import StoreBase, chunks, where

_DOCUMENT_SUMMARY = (
    "SELECT d.id, {path} AS path, d.title, d.doc_type, d.issuer, d.year, d.published, d.format, d.ingested_at, "
    "length(d.text) AS length, (SELECT count(*) FROM measures m WHERE m.doc_id=d.id) AS measures FROM documents d"
)
_ID_PREFIX = re.compile(r"(?:doc:)?([0-9a-f]{6,})")  # at least 6 hex digits name a document by a prefix of its id
_PASSAGE_COLUMNS = 'id, doc_id, start, "end", section, article, text, embed_text'


@dataclass
class PassageSyncRow:
    """What a vector server must hold of one document: its passages with vectors, as a count and id range,
    and their sentence vectors, as a count."""

    id: str
    fingerprint: str
    year: int | None
    doc_type: str
    issuer: str | None
    n: int
    lo: int | None  # smallest passage id (None: no passage has a vector)
    hi: int | None
    sentences: int = 0  # sentence vectors of those passages (passages of two or more sentences)


@dataclass
class StoredPassage:
    """A passage with its stored BM25 tokens and vector (None: stored without one)."""

    passage: Passage
    tokens: list[str]
    vector: np.ndarray | None


def _tokens(stored: str | None) -> list[str]:
    return stored.split(" ") if stored else []


class StoreReads(StoreBase):
    """Reads returning model objects, arrays and small typed rows."""

    # -- documents
    def _summaries(self, sql: str = "", params: Sequence[Any] = ()) -> list[DocumentSummary]:
        return [DocumentSummary(**r) for r in self._rows(_DOCUMENT_SUMMARY.format(path=self.shown_path()) + sql, params)]

    def find_document(self, *, fingerprint: str | None = None, path: str | None = None, doc_id: str | None = None) -> dict[str, Any] | None:
        """The metadata of the document with that fingerprint, else id, else (absolute) path (None: no such document)."""
        cols = "id, path, title, doc_type, issuer, year, published, format, content_hash, fingerprint"
        if fingerprint is not None:
            rows = self._rows(f"SELECT {cols} FROM documents WHERE fingerprint=?", (fingerprint,))
        elif doc_id is not None:
            rows = self._rows(f"SELECT {cols} FROM documents WHERE id=?", (doc_id,))
        else:
            rows = self._rows(f"SELECT {cols} FROM documents WHERE path=?", (path,))
        return rows[0] if rows else None

    def fingerprints(self) -> set[str]:
        """Fingerprints (text + metadata) of every stored document."""
        return {r["fingerprint"] for r in self._rows("SELECT fingerprint FROM documents")}

    def fingerprints_by_document(self) -> dict[str, str]:
        """Document id → fingerprint."""
        return {r["id"]: r["fingerprint"] for r in self._rows("SELECT id, fingerprint FROM documents")}

    def document_paths(self) -> dict[str, str]:
        """Document id → the absolute path it was ingested from (what replacement is detected by; never shown)."""
        return {r["id"]: r["path"] for r in self._rows("SELECT id, path FROM documents")}

    def documents(self) -> list[DocumentSummary]:
        """Every document (no text), by type, issuer, year and title; ``path`` is the path shown (see ``shown_path``)."""
        return self._summaries(" ORDER BY d.doc_type, d.issuer, d.year, d.title")

    def reports(self, year: int | None = None) -> list[DocumentSummary]:
        """The reports on ``year`` (the year reviewed) by issuer and title; without a year, all by year and title."""
        if year is None:
            return self._summaries(" WHERE d.doc_type='report' ORDER BY d.year, d.title")
        return self._summaries(" WHERE d.doc_type='report' AND d.year=? ORDER BY d.issuer, d.title", (year,))

    def document(self, doc_id: str) -> Document | None:
        """One document with its stored text and its shown path (None: no such id)."""
        rows = self._rows(f"SELECT d.*, {self.shown_path()} AS shown FROM documents d WHERE d.id=?", (doc_id,))
        if not rows:
            return None
        r = rows[0]
        return Document(r["id"], r["shown"], r["title"], r["doc_type"], r["text"], r["content_hash"], r["issuer"], r["year"], r["published"], r["format"])

    def matching_documents(self, names: Sequence[str], *, removed: bool = False) -> list[str]:
        """Ids of the stored documents (``removed``: the tombstones) one of ``names`` names, best kind of match first.

        A name is an id (with or without ``doc:``), else a path the document was ingested from (as
        stored) or its shown path, else a prefix of at least 6 hex digits of an id.
        """
        table, alias = ("removed_documents", "t") if removed else ("documents", "d")
        if not self._table_columns(table):
            return []
        names = list(dict.fromkeys(names))
        ids = [*names, *(f"doc:{n}" for n in names)]
        marks = ",".join("?" * len(ids))
        found = [r["id"] for r in self._rows(f"SELECT id FROM {table} {alias} WHERE id IN ({marks}) ORDER BY id", ids)]
        if not found:
            marks = ",".join("?" * len(names))
            found = [r["id"] for r in self._rows(
                f"SELECT id FROM {table} {alias} WHERE path IN ({marks}) OR {self.shown_path(alias, table)} IN ({marks}) ORDER BY id",
                [*names, *names],
            )]
        if not found:
            for name in names:
                if m := _ID_PREFIX.fullmatch(name):
                    found += [r["id"] for r in self._rows(f"SELECT id FROM {table} WHERE id LIKE ? ORDER BY id", (f"doc:{m[1]}%",))]
        return list(dict.fromkeys(found))

    def removed_documents(self) -> list[RemovedDocument]:
        """The tombstones of removed documents, the latest removal first."""
        if not self._table_columns("removed_documents"):
            return []
        rows = self._rows(
            f"SELECT t.id, {self.shown_path('t', 'removed_documents')} AS path, t.title, t.doc_type, t.issuer, t.year, t.removed_at "
            "FROM removed_documents t ORDER BY t.removed_at DESC, t.title"
        )
        return [RemovedDocument(**r) for r in rows]

    def top_sections(self, doc_id: str) -> list[tuple[int, int, str, bool]]:
        """``(start, end, title, planned)`` of the document's top-level sections, in text order."""
        rows = self._rows('SELECT start, "end", title, planned FROM sections WHERE doc_id=? AND level=1 ORDER BY start', (doc_id,))
        return [(int(r["start"]), int(r["end"]), r["title"] or "", bool(r["planned"])) for r in rows]

    # -- regulations, articles, citations
    def regulations(self, regulation_id: str | None = None) -> list[Regulation]:
        """Every regulation (cited or held in full) with its aliases, by name; only ``regulation_id`` when given."""
        only = " WHERE id = ?" if regulation_id is not None else ""
        params = (regulation_id,) if regulation_id is not None else ()
        regs = self._rows(f"SELECT * FROM regulations{only} ORDER BY name", params)
        aliases: dict[str, list[str]] = {}
        only = " WHERE regulation_id = ?" if regulation_id is not None else ""
        for row in self._rows(f"SELECT DISTINCT regulation_id, alias FROM regulation_sources{only} ORDER BY length(alias)", params):
            aliases.setdefault(row["regulation_id"], []).append(row["alias"])
        return [
            Regulation(
                r["id"], r["name"], r["kind"], [a for a in aliases.get(r["id"], []) if a != r["name"]],
                r["doc_id"], r["topic"], r["jurisdiction"], r["key"],
            )
            for r in regs
        ]

    def regulation_names(self) -> dict[str, str]:
        """Regulation id → canonical name."""
        return {r["id"]: r["name"] for r in self._rows("SELECT id, name FROM regulations")}

    def articles(self, regulation_id: str | None = None, *, doc_id: str | None = None) -> list[Article]:
        """Articles of the current full text of each regulation (the last one ingested)."""
        condition, params = where({"a.regulation_id": regulation_id, "a.doc_id": doc_id})
        sql = (
            "SELECT a.* FROM articles a JOIN regulations r ON r.id = a.regulation_id AND r.doc_id = a.doc_id"
            + condition + " ORDER BY a.regulation_id, a.start"
        )
        return [Article(**r) for r in self._rows(sql, params)]

    def citations(self) -> list[Citation]:
        """Every regulation named in a document, by document and position."""
        return [Citation(**r) for r in self._rows("SELECT * FROM citations ORDER BY doc_id, start")]

    # -- measures, units, indicators, links
    def measures(self, doc_id: str | None = None) -> list[Measure]:
        """The measures of one document (or all), with their responsible unit ids (and where they come from), by
        document and position (a measure before its items)."""
        sql = "SELECT * FROM measures" + (" WHERE doc_id=?" if doc_id else "") + ' ORDER BY doc_id, start, "end" DESC'
        out = [Measure(**r, units=[]) for r in self._rows(sql, (doc_id,) if doc_id else ())]
        units: dict[str, list[str]] = {}
        sources: dict[str, str] = {}
        source = "source" if "source" in self._table_columns("measure_units") else "'text' AS source"
        for r in self._rows(f"SELECT measure_id, unit_id, {source} FROM measure_units ORDER BY measure_id, rank"):
            units.setdefault(r["measure_id"], []).append(r["unit_id"])
            sources[r["measure_id"]] = r["source"]
        for m in out:
            m.units = units.get(m.id, [])
            m.unit_source = sources.get(m.id, "text")  # type: ignore[assignment]
        return out

    def measure_document_ids(self) -> dict[str, str]:
        """Measure id → id of the document it stands in."""
        return {r["id"]: r["doc_id"] for r in self._rows("SELECT id, doc_id FROM measures")}

    def units(self) -> list[Unit]:
        """Every unit with its aliases, by name."""
        aliases: dict[str, list[str]] = {}
        for row in self._rows("SELECT DISTINCT unit_id, alias FROM unit_sources ORDER BY length(alias)"):
            aliases.setdefault(row["unit_id"], []).append(row["alias"])
        return [
            Unit(r["id"], r["name"], r["kind"], r["parent_id"], [a for a in aliases.get(r["id"], []) if a != r["name"]])
            for r in self._rows("SELECT * FROM units ORDER BY name")
        ]

    def indicators(self, doc_id: str | None = None, *, measure_id: str | None = None) -> list[Indicator]:
        """The figures stored for one document or measure (or all), by document and position."""
        condition, params = where({"doc_id": doc_id, "measure_id": measure_id})
        rows = self._rows("SELECT * FROM indicators" + condition + " ORDER BY doc_id, start", params)
        return [Indicator(**{**r, "approximate": bool(r["approximate"])}) for r in rows]

    def links(
        self, *, regulation_id: str | None = None, measure_id: str | None = None, relation: str | None = None
    ) -> list[Link]:
        """Measure → Regulation links with their evidence, optionally of one regulation or measure, or one relation."""
        if relation and "relation" not in self._table_columns("links"):  # a read-only store older than relations
            return [] if relation != "implements" else self.links(regulation_id=regulation_id, measure_id=measure_id)
        condition, params = where({"regulation_id": regulation_id, "measure_id": measure_id, "relation": relation})
        return [
            Link(
                r["measure_id"], r["regulation_id"],
                Evidence(r["method"], r["quote"], r["start"], r["end"], r["score"], r["article"], r["mention"], r["mention_start"], r["mention_end"]),
                r["article_id"],
                r.get("relation") or "implements",
            )
            for r in self._rows("SELECT * FROM links" + condition, params)
        ]

    def linked_regulation_ids(self, measure_ids: Sequence[str]) -> dict[str, set[str]]:
        """Measure id → ids of the regulations it is linked to (measures without links left out)."""
        out: dict[str, set[str]] = {}
        for marks, part in chunks(measure_ids):
            for r in self._rows(f"SELECT DISTINCT measure_id, regulation_id FROM links WHERE measure_id IN ({marks})", part):
                out.setdefault(r["measure_id"], set()).add(r["regulation_id"])
        return out

    # -- passages
    def passages(self, ids: Sequence[int] | None = None) -> list[Passage]:
        """Passages by id (all of them, in id order, when ``ids`` is None)."""
        if ids is None:
            return [Passage(**r) for r in self._rows(f"SELECT {_PASSAGE_COLUMNS} FROM passages ORDER BY id")]
        rows: list[dict[str, Any]] = []
        for marks, part in chunks(ids):
            rows += self._rows(f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE id IN ({marks})", part)
        return [Passage(**r) for r in rows]

    def stored_passages(self, doc_id: str) -> list[StoredPassage]:
        """One document's passages with their tokens and vectors, in text order."""
        rows = self._rows(f"SELECT {_PASSAGE_COLUMNS}, tokens, vector FROM passages WHERE doc_id=? ORDER BY start", (doc_id,))
        return [
            StoredPassage(
                Passage(**{k: v for k, v in r.items() if k not in ("tokens", "vector")}),
                _tokens(r["tokens"]),
                np.frombuffer(r["vector"], dtype=np.float32) if r["vector"] is not None else None,
            )
            for r in rows
        ]

    def vector_dim(self) -> int | None:
        """Length of the stored passage vectors (None: no vectors yet)."""
        row = self.con.execute("SELECT length(vector) AS n FROM passages WHERE vector IS NOT NULL LIMIT 1").fetchone()
        return int(row["n"]) // 4 if row else None

    def passage_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every passage that has a vector, in id order."""
        rows = self.con.execute("SELECT id, vector FROM passages WHERE vector IS NOT NULL ORDER BY id").fetchall()
        ids = np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.empty((len(rows), dim), dtype=np.float32)
        for i, r in enumerate(rows):
            vecs[i] = np.frombuffer(r["vector"], dtype=np.float32)
        return ids, vecs

    def sentence_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(passage id per row, vectors) of the sentences of every passage stored with them, in passage id order."""
        if "sentence_vectors" not in self._table_columns("passages"):  # a read-only store of an older schema
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        rows = self.con.execute(
            "SELECT id, sentence_vectors AS s FROM passages WHERE length(sentence_vectors) > 0 ORDER BY id"
        ).fetchall()
        blocks = [np.frombuffer(r["s"], dtype=np.float32).reshape(-1, dim) for r in rows]
        if not blocks:
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        ids = np.repeat(np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows)), [len(b) for b in blocks])
        return ids, np.concatenate(blocks)

    def has_sentence_vectors(self) -> bool:
        """Whether any passage is stored with sentence vectors."""
        if "sentence_vectors" not in self._table_columns("passages"):
            return False
        return self.con.execute("SELECT 1 FROM passages WHERE length(sentence_vectors) > 0 LIMIT 1").fetchone() is not None

    def passages_without_sentence_vectors(self) -> list[Passage]:
        """Passages with a vector whose sentences were never embedded (stored before schema 3), in id order."""
        if "sentence_vectors" not in self._table_columns("passages"):
            return []
        return [
            Passage(**r) for r in self._rows(
                f"SELECT {_PASSAGE_COLUMNS} FROM passages WHERE vector IS NOT NULL AND sentence_vectors IS NULL ORDER BY id"
            )
        ]

    def document_passage_vectors(self, doc_id: str) -> tuple[list[int], np.ndarray, list[str]]:
        """(ids, vectors, texts as embedded) of one document's passages."""
        rows = self._rows("SELECT id, vector, embed_text FROM passages WHERE doc_id=? AND vector IS NOT NULL ORDER BY id", (doc_id,))
        vecs = np.stack([np.frombuffer(r["vector"], dtype=np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)
        return [r["id"] for r in rows], vecs, [r["embed_text"] for r in rows]

    def document_sentence_vectors(self, doc_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(passage id per row, vectors) of the sentences of one document's passages stored with them, in passage id order."""
        if "sentence_vectors" not in self._table_columns("passages"):  # a read-only store of an older schema
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        rows = self.con.execute(
            "SELECT id, length(vector) / 4 AS dim, sentence_vectors AS s FROM passages "
            "WHERE doc_id=? AND vector IS NOT NULL AND length(sentence_vectors) > 0 ORDER BY id",
            (doc_id,),
        ).fetchall()
        blocks = [np.frombuffer(r["s"], dtype=np.float32).reshape(-1, r["dim"]) for r in rows]
        if not blocks:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.repeat(np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows)), [len(b) for b in blocks])
        return ids, np.concatenate(blocks)

    def passage_embed_texts(self) -> list[tuple[int, str]]:
        """(id, text as embedded) of every passage, in id order (what the tokens are computed from)."""
        return [(r["id"], r["embed_text"]) for r in self._rows("SELECT id, embed_text FROM passages ORDER BY id")]

    def token_vocabulary(self) -> str | None:
        """The digest of the domain words every passage's tokens were computed with (None: not recorded)."""
        return self.get_meta("token_vocabulary")

    def passage_tokens(self) -> tuple[np.ndarray, list[list[str]]]:
        """(ids, BM25 tokens) of every passage, in id order."""
        rows = self.con.execute("SELECT id, tokens FROM passages ORDER BY id").fetchall()
        return np.array([r["id"] for r in rows], dtype=np.int64), [_tokens(r["tokens"]) for r in rows]

    def report_passage_tokens(self) -> list[list[str]]:
        """The BM25 tokens of every passage of every report (one list per passage)."""
        rows = self._rows("SELECT p.tokens FROM passages p JOIN documents d ON d.id = p.doc_id WHERE d.doc_type='report'")
        return [_tokens(r["tokens"]) for r in rows]

    def passage_meta(self) -> list[dict[str, Any]]:
        """Per passage: id, doc id, year, type, issuer, article (for filters)."""
        return self._rows(
            "SELECT p.id, p.doc_id, d.year, d.doc_type, d.issuer, p.article FROM passages p JOIN documents d ON d.id = p.doc_id ORDER BY p.id"
        )

    def regulation_passage_ids(self, regulation_id: str) -> set[int]:
        """Passages of the regulation's own text and passages overlapping measures linked to it."""
        rows = self._rows(
            "SELECT p.id FROM passages p JOIN regulations r ON r.doc_id = p.doc_id WHERE r.id = ? "
            "UNION SELECT p.id FROM passages p JOIN measures m ON m.doc_id = p.doc_id AND p.start < m.\"end\" AND m.start < p.\"end\" "
            "JOIN links l ON l.measure_id = m.id WHERE l.regulation_id = ?",
            (regulation_id, regulation_id),
        )
        return {r["id"] for r in rows}

    def passage_sync_rows(self) -> list[PassageSyncRow]:
        """Per document: fingerprint, filter fields, the count and id range of its passages with vectors, and
        how many sentence vectors those passages hold."""
        # a passage's sentence rows: its sentence vectors' length over its vector's
        sentences = (
            "coalesce(sum(length(p.sentence_vectors) / length(p.vector)), 0)"
            if "sentence_vectors" in self._table_columns("passages") else "0"
        )
        rows = self._rows(
            "SELECT d.id, d.fingerprint, d.year, d.doc_type, d.issuer, count(p.id) AS n, min(p.id) AS lo, max(p.id) AS hi, "
            f"{sentences} AS sentences "
            "FROM documents d LEFT JOIN passages p ON p.doc_id = d.id AND p.vector IS NOT NULL GROUP BY d.id"
        )
        return [PassageSyncRow(**r) for r in rows]

    # -- totals
    def counts(self) -> dict[str, Any]:
        """Rows per table, and links per method."""
        tables = ("documents", "measures", "regulations", "articles", "units", "indicators", "passages")
        c: dict[str, Any] = {t: self.con.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}
        c["links"] = {r["method"]: r["n"] for r in self._rows("SELECT method, count(*) AS n FROM links GROUP BY method")}
        return c
