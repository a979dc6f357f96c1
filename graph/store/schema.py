"""The store's foundation: the DDL, the schema version, connections, transactions and the meta table.

:class:`StoreBase` opens one SQLite connection per thread (WAL mode, foreign keys on), creates the
tables on first use and refuses a database written by a newer schema. The write and read halves of
:class:`~policykg.graph.store.SQLiteStore` build on it; no SQL lives outside this package.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 3  # 2: links.relation, measures.parent_id, measure_units.source; 3: passages.sentence_vectors
# (older stores are migrated)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, doc_type TEXT NOT NULL,
    issuer TEXT, year INTEGER, published TEXT, format TEXT NOT NULL, content_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL, text TEXT NOT NULL, ingested_at TEXT NOT NULL DEFAULT (datetime('now')),
    display_path TEXT
);
CREATE INDEX IF NOT EXISTS documents_path ON documents(path);
CREATE TABLE IF NOT EXISTS sections (
    id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    level INTEGER, label TEXT, title TEXT, start INTEGER, "end" INTEGER, parent_id TEXT, path TEXT, planned INTEGER
);
CREATE INDEX IF NOT EXISTS sections_doc ON sections(doc_id);
CREATE TABLE IF NOT EXISTS measures (
    id TEXT PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    title TEXT, text TEXT, start INTEGER, "end" INTEGER, section TEXT, year INTEGER, status TEXT, parent_id TEXT
);
CREATE INDEX IF NOT EXISTS measures_doc ON measures(doc_id);
CREATE TABLE IF NOT EXISTS measure_units (
    measure_id TEXT NOT NULL REFERENCES measures(id) ON DELETE CASCADE, unit_id TEXT NOT NULL,
    rank INTEGER NOT NULL, source TEXT NOT NULL DEFAULT 'text', PRIMARY KEY (measure_id, unit_id)
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
    mention TEXT, mention_start INTEGER, mention_end INTEGER, relation TEXT NOT NULL DEFAULT 'implements'
);
CREATE INDEX IF NOT EXISTS links_reg ON links(regulation_id);
CREATE INDEX IF NOT EXISTS links_measure ON links(measure_id);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    start INTEGER, "end" INTEGER, section TEXT, article TEXT, text TEXT, embed_text TEXT,
    tokens TEXT, vector BLOB,
    sentence_vectors BLOB  -- a passage of two or more sentences: one vector per sentence, float32 rows
);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE TABLE IF NOT EXISTS remote_sync (
    target TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (target, name)
);
CREATE TABLE IF NOT EXISTS removed_documents (
    id TEXT PRIMARY KEY, path TEXT NOT NULL, display_path TEXT, title TEXT NOT NULL, doc_type TEXT NOT NULL,
    issuer TEXT, year INTEGER, fingerprint TEXT NOT NULL, removed_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS removed_documents_path ON removed_documents(path);
"""

IN_CHUNK = 900  # ids per ``IN (…)`` list: below SQLite's default limit of 999 bound parameters


class StoreError(Exception):
    """The data directory cannot be used (locked, corrupt, newer schema)."""


def _row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cur.description, row, strict=True)}


def where(conditions: dict[str, str | None]) -> tuple[str, list[str]]:
    """`` WHERE col=? AND …`` for the conditions that are set (column names are the code's, never input)."""
    set_ = {col: v for col, v in conditions.items() if v}
    return (" WHERE " + " AND ".join(f"{col}=?" for col in set_) if set_ else ""), list(set_.values())


def chunks(ids: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
    """``(placeholders, part)`` for each slice of ``ids`` short enough for one ``IN (…)`` list."""
    for start in range(0, len(ids), IN_CHUNK):
        part = list(ids[start: start + IN_CHUNK])
        yield ",".join("?" * len(part)), part


class StoreBase:
    """``<data>/policykg.sqlite``: connections (one per thread), transactions, snapshots and meta values."""

    def __init__(self, path: Path, *, readonly: bool = False, full_paths: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self.full_paths = full_paths  # reads show the absolute path a document was ingested from, not its display path
        self._local = threading.local()
        self._columns: dict[str, set[str]] = {}
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.con.executescript(SCHEMA)
            with self.transaction() as con:
                row = con.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    con.execute("INSERT INTO meta VALUES ('schema', ?), ('generation', '0')", (str(SCHEMA_VERSION),))
                elif int(row["value"]) > SCHEMA_VERSION:
                    raise StoreError(f"{path}: written by a newer policykg (schema {row['value']})")
                self._migrate(con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Bring a store written by an older policykg up to date (new columns; CREATE … IF NOT EXISTS did the tables)."""
        if "display_path" not in self._table_columns("documents"):
            con.execute("ALTER TABLE documents ADD COLUMN display_path TEXT")
            # the servers hold these documents with their absolute path as dct:source: rewrite them at the next sync
            con.execute("DELETE FROM remote_sync WHERE name LIKE 'doc/%'")
            self._columns.clear()
        if "relation" not in self._table_columns("links"):
            # links of an older store were all "implements"; the next relink tells drafts/revises/studies apart
            con.execute("ALTER TABLE links ADD COLUMN relation TEXT NOT NULL DEFAULT 'implements'")
            self._set_meta(con, "links_dirty", "1")
            self._columns.clear()
        if "parent_id" not in self._table_columns("measures"):
            # measures of an older store are all top-level; re-ingest a report to get its 一是/二是 items
            con.execute("ALTER TABLE measures ADD COLUMN parent_id TEXT")
            self._columns.clear()
        if "source" not in self._table_columns("measure_units"):
            con.execute("ALTER TABLE measure_units ADD COLUMN source TEXT NOT NULL DEFAULT 'text'")
            self._columns.clear()
        if "sentence_vectors" not in self._table_columns("passages"):
            # passages of an older store are scored by their whole text only; re-embedding fills this
            # (policykg reembed), so does re-ingesting a changed document
            con.execute("ALTER TABLE passages ADD COLUMN sentence_vectors BLOB")
            self._columns.clear()

    def _table_columns(self, table: str) -> set[str]:
        """The columns of ``table`` (empty: no such table; a read-only store may predate it)."""
        if table not in self._columns:
            self._columns[table] = {r["name"] for r in self.con.execute(f"PRAGMA table_info({table})").fetchall()}
        return self._columns[table]

    def shown_path(self, alias: str = "d", table: str = "documents") -> str:
        """SQL for the path a read shows of the ``table`` row ``alias``: its display path (relative to the ingest
        root), else (an older store) its file name; the absolute path when the store was opened with ``full_paths``."""
        path = f"{alias}.path"
        if self.full_paths:
            return path
        name = f"substr({path}, length(rtrim({path}, replace({path}, '/', ''))) + 1)"
        return f"coalesce({alias}.display_path, {name})" if "display_path" in self._table_columns(table) else name

    # -- connections
    @property
    def con(self) -> sqlite3.Connection:
        """This thread's connection (opened at first use; rows come back as dicts)."""
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
        """Close this thread's connection (the next call opens a new one)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT; rolled back on any error."""
        return self._begin("BEGIN IMMEDIATE", on_error="ROLLBACK")

    def snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state."""
        return self._begin("BEGIN", on_error="COMMIT")

    @contextmanager
    def _begin(self, statement: str, *, on_error: str) -> Iterator[sqlite3.Connection]:
        con = self.con
        con.execute(statement)
        try:
            yield con
        except BaseException:
            con.execute(on_error)
            raise
        con.execute("COMMIT")

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of one statement, as dicts (for this package only)."""
        return list(self.con.execute(sql, params).fetchall())

    # -- meta
    def generation(self) -> int:
        """A counter bumped by every write: derived indexes compare it to know they are stale."""
        row = self.con.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row["value"]) if row else 0

    def get_meta(self, key: str) -> str | None:
        """A value of the meta table (None: not set)."""
        row = self.con.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row["value"] if row else None

    @staticmethod
    def _bump(con: sqlite3.Connection) -> None:
        con.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")

    @staticmethod
    def _set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
        con.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value))
