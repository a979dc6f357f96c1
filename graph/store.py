"""The embedded store: one SQLite database in the data directory, written in transactions.

SQLite (WAL mode) is the store of record for documents, the graph and passage vectors; search
indexes are derived from it and can always be rebuilt. A document is written in one transaction,
so an interrupted ingest leaves the previous state intact.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from policykg.graph.model import (
    Article,
    Citation,
    Document,
    Evidence,
    Extraction,
    Indicator,
    Link,
    Measure,
    Passage,
    Regulation,
    Unit,
)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, doc_type TEXT NOT NULL,
    issuer TEXT, year INTEGER, published TEXT, format TEXT NOT NULL, content_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL, text TEXT NOT NULL, ingested_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS sections (
    id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    level INTEGER, label TEXT, title TEXT, start INTEGER, "end" INTEGER, parent_id TEXT, path TEXT, planned INTEGER
);
CREATE INDEX IF NOT EXISTS sections_doc ON sections(doc_id);
CREATE TABLE IF NOT EXISTS measures (
    id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    title TEXT, text TEXT, start INTEGER, "end" INTEGER, section TEXT, year INTEGER, status TEXT
);
CREATE INDEX IF NOT EXISTS measures_doc ON measures(doc_id);
CREATE TABLE IF NOT EXISTS measure_units (
    measure_id TEXT NOT NULL REFERENCES measures(id) ON DELETE CASCADE, unit_id TEXT NOT NULL,
    rank INTEGER NOT NULL, PRIMARY KEY (measure_id, unit_id)
);
CREATE INDEX IF NOT EXISTS measure_units_unit ON measure_units(unit_id);
CREATE TABLE IF NOT EXISTS regulations (
    id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    doc_id TEXT, topic TEXT, jurisdiction TEXT
);
CREATE TABLE IF NOT EXISTS regulation_sources (
    regulation_id TEXT NOT NULL, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    alias TEXT NOT NULL, PRIMARY KEY (regulation_id, doc_id, alias)
);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, regulation_id TEXT NOT NULL, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    number INTEGER, label TEXT, chapter TEXT, text TEXT, start INTEGER, "end" INTEGER
);
CREATE INDEX IF NOT EXISTS articles_reg ON articles(regulation_id);
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT, parent_id TEXT
);
CREATE TABLE IF NOT EXISTS unit_sources (
    unit_id TEXT NOT NULL, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    alias TEXT NOT NULL, PRIMARY KEY (unit_id, doc_id, alias)
);
CREATE TABLE IF NOT EXISTS unit_mentions (
    unit_id TEXT NOT NULL, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    measure_id TEXT, start INTEGER, "end" INTEGER
);
CREATE INDEX IF NOT EXISTS unit_mentions_unit ON unit_mentions(unit_id);
CREATE TABLE IF NOT EXISTS indicators (
    id TEXT PRIMARY KEY, measure_id TEXT, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    name TEXT, value REAL, unit TEXT, start INTEGER, "end" INTEGER, quote TEXT, year INTEGER, kind TEXT,
    low REAL, high REAL, bound TEXT, approximate INTEGER
);
CREATE TABLE IF NOT EXISTS citations (
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE, regulation_key TEXT NOT NULL,
    surface TEXT, method TEXT, start INTEGER, "end" INTEGER, article TEXT
);
CREATE INDEX IF NOT EXISTS citations_doc ON citations(doc_id);
CREATE TABLE IF NOT EXISTS links (
    measure_id TEXT NOT NULL REFERENCES measures(id) ON DELETE CASCADE, regulation_id TEXT NOT NULL,
    method TEXT NOT NULL, quote TEXT, start INTEGER, "end" INTEGER, score REAL, article TEXT, article_id TEXT,
    mention TEXT, mention_start INTEGER, mention_end INTEGER
);
CREATE INDEX IF NOT EXISTS links_reg ON links(regulation_id);
CREATE INDEX IF NOT EXISTS links_measure ON links(measure_id);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    start INTEGER, "end" INTEGER, section TEXT, article TEXT, text TEXT, embed_text TEXT,
    tokens TEXT, vector BLOB
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS remote_sync (
    target TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (target, name)
);
"""


class StoreError(Exception):
    """The data directory cannot be used (locked, corrupt, newer schema)."""


class GraphStore(Protocol):
    """What the knowledge base needs from a store of documents, graph and passages."""

    def generation(self) -> int: ...
    def find_document(self, *, fingerprint: str | None = None, path: str | None = None, doc_id: str | None = None) -> dict[str, Any] | None: ...
    def write_document(self, extraction: Extraction, vectors: np.ndarray | None, tokens: Sequence[str], replace: str | None) -> None: ...
    def fingerprints(self) -> set[str]: ...
    def documents(self) -> list[dict[str, Any]]: ...
    def document(self, doc_id: str) -> Document | None: ...
    def replace_links(self, links: Iterable[Link]) -> None: ...


def _row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def _where(conditions: dict[str, str | None]) -> tuple[str, list[str]]:
    """`` WHERE col=? AND …`` for the conditions that are set (column names are the code's, never input)."""
    set_ = {col: v for col, v in conditions.items() if v}
    return (" WHERE " + " AND ".join(f"{col}=?" for col in set_) if set_ else ""), list(set_.values())


class SQLiteStore:
    """The default GraphStore: ``<data>/policykg.sqlite``."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._local = threading.local()
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.con.executescript(SCHEMA)
            with self.transaction() as con:
                row = con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    con.execute("INSERT INTO meta VALUES ('schema', ?), ('generation', '0')", (str(SCHEMA_VERSION),))
                elif int(row["value"]) > SCHEMA_VERSION:
                    raise StoreError(f"{path}: written by a newer policykg (schema {row['value']})")

    # -- connections
    @property
    def con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            if self.readonly and not self.path.exists():
                raise StoreError(f"{self.path.parent}: no policykg data here (run `policykg ingest` first)")
            try:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                con.execute("PRAGMA foreign_keys=ON")
                con.execute("PRAGMA busy_timeout=30000")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: cannot open the store ({exc})") from exc
            con.row_factory = _row
            self._local.con = con
        return con

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any error."""
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state."""
        con = self.con
        con.execute("BEGIN")
        try:
            yield con
        finally:
            con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.con.execute(sql, params).fetchall())

    # -- meta
    def generation(self) -> int:
        row = self.con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row["value"]) if row else 0

    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else None

    @staticmethod
    def _bump(con: sqlite3.Connection) -> None:
        con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    @staticmethod
    def _set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
        con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))

    # -- documents
    def find_document(self, *, fingerprint: str | None = None, path: str | None = None, doc_id: str | None = None) -> dict[str, Any] | None:
        cols = "id, path, title, doc_type, issuer, year, published, format, content_hash, fingerprint"
        if fingerprint is not None:
            rows = self.query(f"SELECT {cols} FROM documents WHERE fingerprint=?", (fingerprint,))
        elif doc_id is not None:
            rows = self.query(f"SELECT {cols} FROM documents WHERE id=?", (doc_id,))
        else:
            rows = self.query(f"SELECT {cols} FROM documents WHERE path=?", (path,))
        return rows[0] if rows else None

    def fingerprints(self) -> set[str]:
        """Fingerprints (text + metadata) of every stored document."""
        return {r["fingerprint"] for r in self.query("SELECT fingerprint FROM documents")}

    def documents(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT d.id, d.path, d.title, d.doc_type, d.issuer, d.year, d.published, d.format, d.ingested_at, "
            "length(d.text) AS length, (SELECT count(*) FROM measures m WHERE m.doc_id=d.id) AS measures "
            "FROM documents d ORDER BY d.doc_type, d.issuer, d.year, d.title"
        )

    def document(self, doc_id: str) -> Document | None:
        rows = self.query("SELECT * FROM documents WHERE id=?", (doc_id,))
        if not rows:
            return None
        r = rows[0]
        return Document(r["id"], r["path"], r["title"], r["doc_type"], r["text"], r["content_hash"], r["issuer"], r["year"], r["published"], r["format"])

    def write_document(
        self,
        extraction: Extraction,
        vectors: np.ndarray | None,
        tokens: Sequence[str],
        replace: str | None = None,
        fingerprint: str = "",
    ) -> None:
        """Store one document and everything found in it, replacing ``replace`` (a doc id), atomically."""
        doc = extraction.document
        with self.transaction() as con:
            if replace is not None:
                self._delete(con, replace)
            self._delete(con, doc.id)
            con.execute(
                "INSERT INTO documents (id, path, title, doc_type, issuer, year, published, format, content_hash, fingerprint, text) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (doc.id, doc.path, doc.title, doc.doc_type, doc.issuer, doc.year, doc.published, doc.format, doc.content_hash, fingerprint, doc.text),
            )
            con.executemany(
                "INSERT OR REPLACE INTO sections VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(s.id, s.doc_id, s.level, s.label, s.title, s.start, s.end, s.parent_id, s.path, int(s.planned)) for s in extraction.sections],
            )
            con.executemany(
                "INSERT INTO measures VALUES (?,?,?,?,?,?,?,?,?)",
                [(m.id, m.doc_id, m.title, m.text, m.start, m.end, m.section, m.year, m.status) for m in extraction.measures],
            )
            con.executemany(
                "INSERT OR IGNORE INTO measure_units VALUES (?,?,?)",
                [(m.id, u, i) for m in extraction.measures for i, u in enumerate(m.units)],
            )
            for reg in extraction.regulations:
                self._upsert_regulation(con, reg, doc.id)
            con.executemany(
                "INSERT OR REPLACE INTO articles VALUES (?,?,?,?,?,?,?,?,?)",
                [(a.id, a.regulation_id, a.doc_id, a.number, a.label, a.chapter, a.text, a.start, a.end) for a in extraction.articles],
            )
            for unit in extraction.units:
                con.execute(
                    "INSERT INTO units VALUES (?,?,?,?) ON CONFLICT(id) DO UPDATE SET parent_id=coalesce(units.parent_id, excluded.parent_id)",
                    (unit.id, unit.name, unit.kind, unit.parent_id),
                )
                con.executemany(
                    "INSERT OR IGNORE INTO unit_sources VALUES (?,?,?)",
                    [(unit.id, doc.id, alias) for alias in [unit.name, *unit.aliases]],
                )
            con.executemany(
                "INSERT INTO unit_mentions VALUES (?,?,?,?,?)",
                [(u, doc.id, m, s, e) for u, m, s, e in extraction.unit_mentions],
            )
            con.executemany(
                "INSERT OR REPLACE INTO indicators VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (i.id, i.measure_id, i.doc_id, i.name, i.value, i.unit, i.start, i.end, i.quote, i.year, i.kind, i.low, i.high, i.bound, int(i.approximate))
                    for i in extraction.indicators
                ],
            )
            con.executemany(
                "INSERT INTO citations VALUES (?,?,?,?,?,?,?)",
                [(c.doc_id, c.regulation_key, c.surface, c.method, c.start, c.end, c.article) for c in extraction.citations],
            )
            for i, p in enumerate(extraction.passages):
                blob = vectors[i].astype(np.float32).tobytes() if vectors is not None else None
                con.execute(
                    "INSERT INTO passages (doc_id, start, \"end\", section, article, text, embed_text, tokens, vector) VALUES (?,?,?,?,?,?,?,?,?)",
                    (p.doc_id, p.start, p.end, p.section, p.article, p.text, p.embed_text, tokens[i], blob),
                )
            self._set_meta(con, "links_dirty", "1")
            self._bump(con)

    @staticmethod
    def _upsert_regulation(con: sqlite3.Connection, reg: Regulation, doc_id: str) -> None:
        """One row per regulation key; a full text (doc_id set) wins over a mere citation."""
        con.execute(
            "INSERT INTO regulations VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
            "name = CASE WHEN excluded.doc_id IS NOT NULL THEN excluded.name ELSE regulations.name END, "
            "kind = CASE WHEN excluded.doc_id IS NOT NULL THEN excluded.kind ELSE regulations.kind END, "
            "doc_id = coalesce(excluded.doc_id, regulations.doc_id), "
            "topic = coalesce(regulations.topic, excluded.topic), "
            "jurisdiction = coalesce(regulations.jurisdiction, excluded.jurisdiction)",
            (reg.id, reg.key or reg.id, reg.name, reg.kind, reg.doc_id, reg.topic, reg.jurisdiction),
        )
        con.executemany(
            "INSERT OR IGNORE INTO regulation_sources VALUES (?,?,?)",
            [(reg.id, doc_id, alias) for alias in dict.fromkeys([reg.name, *reg.aliases])],
        )

    def _delete(self, con: sqlite3.Connection, doc_id: str) -> None:
        con.execute("DELETE FROM links WHERE measure_id IN (SELECT id FROM measures WHERE doc_id=?)", (doc_id,))
        con.execute("UPDATE regulations SET doc_id=NULL WHERE doc_id=?", (doc_id,))
        for table in ("sections", "measure_units", "articles", "unit_sources", "unit_mentions", "indicators", "citations", "passages", "regulation_sources"):
            if table == "measure_units":
                con.execute("DELETE FROM measure_units WHERE measure_id IN (SELECT id FROM measures WHERE doc_id=?)", (doc_id,))
            else:
                con.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
        con.execute("DELETE FROM measures WHERE doc_id=?", (doc_id,))
        con.execute("DELETE FROM documents WHERE id=?", (doc_id,))
        # a regulation whose current text went away falls back to another text of it still held
        con.execute(
            "UPDATE regulations SET doc_id = (SELECT a.doc_id FROM articles a WHERE a.regulation_id = regulations.id "
            "ORDER BY a.rowid DESC LIMIT 1) WHERE doc_id IS NULL"
        )
        con.execute("DELETE FROM regulations WHERE id NOT IN (SELECT regulation_id FROM regulation_sources)")
        con.execute("DELETE FROM units WHERE id NOT IN (SELECT unit_id FROM unit_sources)")

    def delete_document(self, doc_id: str) -> None:
        with self.transaction() as con:
            self._delete(con, doc_id)
            self._set_meta(con, "links_dirty", "1")
            self._bump(con)

    # -- links
    def links_dirty(self) -> bool:
        return self.get_meta("links_dirty") == "1"

    def replace_links(self, links: Iterable[Link]) -> None:
        """Swap the whole set of Measure → Regulation links in one transaction."""
        rows = [
            (l.measure_id, l.regulation_id, l.evidence.method, l.evidence.quote, l.evidence.start, l.evidence.end, l.evidence.score,
             l.evidence.article, l.article_id, l.evidence.mention, l.evidence.mention_start, l.evidence.mention_end)
            for l in links
        ]
        with self.transaction() as con:
            con.execute("DELETE FROM links")
            con.executemany("INSERT INTO links VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
            self._set_meta(con, "links_dirty", "0")
            self._bump(con)

    # -- what the configured servers (graph, vectors) hold of this store
    def sync_state(self, target: str) -> dict[str, str]:
        return {r["name"]: r["hash"] for r in self.query("SELECT name, hash FROM remote_sync WHERE target=?", (target,))}

    def record_sync(self, target: str, name: str, value: str | None) -> None:
        """Record that ``target`` holds ``name`` at version ``value`` (None: no longer holds it)."""
        with self.transaction() as con:
            if value is None:
                con.execute("DELETE FROM remote_sync WHERE target=? AND name=?", (target, name))
            else:
                con.execute(
                    "INSERT INTO remote_sync VALUES (?,?,?) ON CONFLICT(target, name) DO UPDATE SET hash=excluded.hash",
                    (target, name, value),
                )

    def document_passage_vectors(self, doc_id: str) -> tuple[list[int], np.ndarray, list[str]]:
        """(ids, vectors, texts as embedded) of one document's passages."""
        rows = self.query("SELECT id, vector, embed_text FROM passages WHERE doc_id=? AND vector IS NOT NULL ORDER BY id", (doc_id,))
        vecs = np.stack([np.frombuffer(r["vector"], dtype=np.float32) for r in rows]) if rows else np.zeros((0, 0), np.float32)
        return [r["id"] for r in rows], vecs, [r["embed_text"] for r in rows]

    # -- reads used by linking, search and the API
    def regulations(self) -> list[Regulation]:
        regs = self.query("SELECT * FROM regulations ORDER BY name")
        aliases: dict[str, list[str]] = {}
        for row in self.query("SELECT DISTINCT regulation_id, alias FROM regulation_sources ORDER BY length(alias)"):
            aliases.setdefault(row["regulation_id"], []).append(row["alias"])
        return [
            Regulation(
                r["id"], r["name"], r["kind"], [a for a in aliases.get(r["id"], []) if a != r["name"]],
                r["doc_id"], r["topic"], r["jurisdiction"], r["key"],
            )
            for r in regs
        ]

    def regulation_keys(self) -> dict[str, str]:
        return {r["key"]: r["id"] for r in self.query("SELECT key, id FROM regulations")}

    def articles(self, regulation_id: str | None = None, *, doc_id: str | None = None) -> list[Article]:
        """Articles of the current full text of each regulation (the last one ingested)."""
        where, params = _where({"a.regulation_id": regulation_id, "a.doc_id": doc_id})
        sql = (
            "SELECT a.* FROM articles a JOIN regulations r ON r.id = a.regulation_id AND r.doc_id = a.doc_id"
            + where + " ORDER BY a.regulation_id, a.start"
        )
        return [Article(**r) for r in self.query(sql, params)]

    def measures(self, doc_id: str | None = None) -> list[Measure]:
        sql = "SELECT * FROM measures" + (" WHERE doc_id=?" if doc_id else "") + " ORDER BY doc_id, start"
        out = [Measure(**r, units=[]) for r in self.query(sql, (doc_id,) if doc_id else ())]
        units: dict[str, list[str]] = {}
        for r in self.query("SELECT measure_id, unit_id FROM measure_units ORDER BY measure_id, rank"):
            units.setdefault(r["measure_id"], []).append(r["unit_id"])
        for m in out:
            m.units = units.get(m.id, [])
        return out

    def citations(self) -> list[Citation]:
        return [Citation(**r) for r in self.query("SELECT * FROM citations ORDER BY doc_id, start")]

    def units(self) -> list[Unit]:
        aliases: dict[str, list[str]] = {}
        for row in self.query("SELECT DISTINCT unit_id, alias FROM unit_sources ORDER BY length(alias)"):
            aliases.setdefault(row["unit_id"], []).append(row["alias"])
        return [
            Unit(r["id"], r["name"], r["kind"], r["parent_id"], [a for a in aliases.get(r["id"], []) if a != r["name"]])
            for r in self.query("SELECT * FROM units ORDER BY name")
        ]

    def indicators(self, doc_id: str | None = None) -> list[Indicator]:
        sql = "SELECT * FROM indicators" + (" WHERE doc_id=?" if doc_id else "") + " ORDER BY doc_id, start"
        rows = self.query(sql, (doc_id,) if doc_id else ())
        return [Indicator(**{**r, "approximate": bool(r["approximate"])}) for r in rows]

    def links(self, *, regulation_id: str | None = None, measure_id: str | None = None) -> list[Link]:
        where, params = _where({"regulation_id": regulation_id, "measure_id": measure_id})
        sql = "SELECT * FROM links" + where
        return [
            Link(
                r["measure_id"], r["regulation_id"],
                Evidence(r["method"], r["quote"], r["start"], r["end"], r["score"], r["article"], r["mention"], r["mention_start"], r["mention_end"]),
                r["article_id"],
            )
            for r in self.query(sql, params)
        ]

    def passages(self, ids: Sequence[int] | None = None, *, with_vectors: bool = False) -> list[Passage]:
        cols = "id, doc_id, start, \"end\", section, article, text, embed_text"
        if ids is None:
            rows = self.query(f"SELECT {cols} FROM passages ORDER BY id")
        else:
            rows = []
            for chunk in range(0, len(ids), 900):
                part = list(ids[chunk: chunk + 900])
                rows += self.query(f"SELECT {cols} FROM passages WHERE id IN ({','.join('?' * len(part))})", part)
        return [Passage(**r) for r in rows]

    def passage_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of every passage that has a vector, in id order."""
        rows = self.con.execute("SELECT id, vector FROM passages WHERE vector IS NOT NULL ORDER BY id").fetchall()
        ids = np.fromiter((r["id"] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.empty((len(rows), dim), dtype=np.float32)
        for i, r in enumerate(rows):
            vecs[i] = np.frombuffer(r["vector"], dtype=np.float32)
        return ids, vecs

    def passage_tokens(self) -> tuple[np.ndarray, list[list[str]]]:
        rows = self.con.execute("SELECT id, tokens FROM passages ORDER BY id").fetchall()
        return np.array([r["id"] for r in rows], dtype=np.int64), [r["tokens"].split(" ") if r["tokens"] else [] for r in rows]

    def passage_meta(self) -> list[dict[str, Any]]:
        """Per passage: id, doc id, year, type, issuer, article (for filters)."""
        return self.query(
            "SELECT p.id, p.doc_id, d.year, d.doc_type, d.issuer, p.article FROM passages p JOIN documents d ON d.id = p.doc_id ORDER BY p.id"
        )

    def counts(self) -> dict[str, Any]:
        c = {t: self.con.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in ("documents", "measures", "regulations", "articles", "units", "indicators", "passages")}
        c["links"] = {r["method"]: r["n"] for r in self.query("SELECT method, count(*) AS n FROM links GROUP BY method")}
        return c

