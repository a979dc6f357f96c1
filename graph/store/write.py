"""The store's writes: one document with everything found in it, removals, the set of links, the servers' sync state.

A document is written (or replaced) in one transaction, and so is a removal (with its tombstone), so
an interrupted ingest or removal leaves the previous state intact; every write bumps the generation
that derived search indexes compare against.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

from policykg.graph.model import Extraction, Link, Regulation
from policykg.graph.store.schema import StoreBase

# tables whose rows belong to one document (by their doc_id column)
_DOCUMENT_TABLES = (
    "sections", "articles", "unit_sources", "unit_mentions", "indicators", "citations", "passages", "regulation_sources",
)


class StoreWrites(StoreBase):
    """Writing documents and links; recording what the configured servers hold."""

    # -- documents
    def write_document(
        self,
        extraction: Extraction,
        vectors: np.ndarray | None,
        tokens: Sequence[str],
        replace: str | None = None,
        fingerprint: str = "",
        display_path: str | None = None,
        sentence_vectors: Sequence[np.ndarray | None] = (),
    ) -> bool:
        """Store one document and everything found in it, replacing ``replace`` (a doc id), atomically.

        ``display_path`` is the name answers show (relative to the ingest root); ``doc.path`` stays
        the absolute path replacements are detected by. Returns whether the document (same id or
        path) had been removed before: its tombstone goes in the same transaction.
        """
        doc = extraction.document
        with self.transaction() as con:
            if replace is not None:
                self._delete(con, replace)
            self._delete(con, doc.id)
            readded = con.execute("DELETE FROM removed_documents WHERE id=? OR path=?", (doc.id, doc.path)).rowcount > 0
            con.execute(
                "INSERT INTO documents (id, path, title, doc_type, issuer, year, published, format, content_hash, fingerprint, text, "
                "display_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (doc.id, doc.path, doc.title, doc.doc_type, doc.issuer, doc.year, doc.published, doc.format, doc.content_hash,
                 fingerprint, doc.text, display_path),
            )
            con.executemany(
                "INSERT OR REPLACE INTO sections VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(s.id, s.doc_id, s.level, s.label, s.title, s.start, s.end, s.parent_id, s.path, int(s.planned)) for s in extraction.sections],
            )
            con.executemany(
                'INSERT INTO measures (id, doc_id, title, text, start, "end", section, year, status, parent_id) '
                "VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(m.id, m.doc_id, m.title, m.text, m.start, m.end, m.section, m.year, m.status, m.parent_id) for m in extraction.measures],
            )
            con.executemany(
                "INSERT OR IGNORE INTO measure_units (measure_id, unit_id, rank, source) VALUES (?,?,?,?)",
                [(m.id, u, rank, m.unit_source) for m in extraction.measures for rank, u in enumerate(m.units)],
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
                [(unit_id, doc.id, measure_id, start, end) for unit_id, measure_id, start, end in extraction.unit_mentions],
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
                sv = sentence_vectors[i] if i < len(sentence_vectors) else None
                # b"": one sentence (nothing to add); NULL: not embedded (filled by the next ingest run)
                sentences = (
                    np.ascontiguousarray(sv, dtype=np.float32).tobytes() if sv is not None and len(sv)
                    else b"" if i < len(sentence_vectors) and vectors is not None else None
                )
                con.execute(
                    "INSERT INTO passages (doc_id, start, \"end\", section, article, text, embed_text, tokens, vector,"
                    " sentence_vectors) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (p.doc_id, p.start, p.end, p.section, p.article, p.text, p.embed_text, tokens[i], blob, sentences),
                )
            self._set_meta(con, "links_dirty", "1")
            self._bump(con)
        return readded

    def remove_documents(self, doc_ids: Sequence[str]) -> list[str]:
        """Remove documents and everything only they contributed, leaving a tombstone for each, in one transaction.

        Their sections, measures, links, passages (vectors, tokens), indicators, citations and unit
        mentions go, and so do units and cited-only regulations no other document mentions; a
        regulation whose full text goes stays as cited-only while another document names it. Links
        of other documents' measures that relied on what went (the regulation, its text, an article)
        go too; the links are marked dirty so the caller relinks. Returns the ids removed (ids not
        stored are skipped).
        """
        removed: list[str] = []
        with self.transaction() as con:
            for doc_id in dict.fromkeys(doc_ids):
                row = con.execute(
                    "SELECT id, path, display_path, title, doc_type, issuer, year, fingerprint FROM documents WHERE id=?", (doc_id,),
                ).fetchone()
                if row is None:
                    continue
                con.execute(
                    "INSERT OR REPLACE INTO removed_documents (id, path, display_path, title, doc_type, issuer, year, fingerprint) "
                    "VALUES (:id, :path, :display_path, :title, :doc_type, :issuer, :year, :fingerprint)", row,
                )
                self._delete(con, doc_id)
                removed.append(doc_id)
            if removed:
                con.execute(
                    "DELETE FROM links WHERE regulation_id NOT IN (SELECT id FROM regulations) "
                    "OR (article_id IS NOT NULL AND article_id NOT IN (SELECT id FROM articles)) "
                    "OR (method IN ('topic', 'semantic') AND regulation_id IN (SELECT id FROM regulations WHERE doc_id IS NULL))"
                )
                self._set_meta(con, "links_dirty", "1")
                self._bump(con)
        return removed

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

    @staticmethod
    def _delete(con: sqlite3.Connection, doc_id: str) -> None:
        """Remove one document and what only it contributed (inside the caller's transaction)."""
        con.execute("DELETE FROM links WHERE measure_id IN (SELECT id FROM measures WHERE doc_id=?)", (doc_id,))
        con.execute("UPDATE regulations SET doc_id=NULL WHERE doc_id=?", (doc_id,))
        con.execute("DELETE FROM measure_units WHERE measure_id IN (SELECT id FROM measures WHERE doc_id=?)", (doc_id,))
        for table in _DOCUMENT_TABLES:
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

    # -- links
    def links_dirty(self) -> bool:
        """Whether documents were written since the links were last recomputed."""
        return self.get_meta("links_dirty") == "1"

    def replace_links(self, links: Iterable[Link]) -> None:
        """Swap the whole set of Measure → Regulation links in one transaction."""
        rows = [
            (link.measure_id, link.regulation_id, ev.method, ev.quote, ev.start, ev.end, ev.score,
             ev.article, link.article_id, ev.mention, ev.mention_start, ev.mention_end, link.relation)
            for link in links
            for ev in (link.evidence,)
        ]
        with self.transaction() as con:
            con.execute("DELETE FROM links")
            con.executemany(
                "INSERT INTO links (measure_id, regulation_id, method, quote, start, \"end\", score, article, article_id, "
                "mention, mention_start, mention_end, relation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            self._set_meta(con, "links_dirty", "0")
            self._bump(con)

    def set_sentence_vectors(self, rows: Iterable[tuple[int, np.ndarray | None]]) -> None:
        """Set the sentence vectors of passages (``(id, rows)``; None: a passage of one sentence), in one transaction."""
        with self.transaction() as con:
            con.executemany(
                "UPDATE passages SET sentence_vectors=? WHERE id=?",
                [(np.ascontiguousarray(v, dtype=np.float32).tobytes() if v is not None and len(v) else b"", pid) for pid, v in rows],
            )
            self._bump(con)

    def replace_passage_tokens(self, tokens: Iterable[tuple[int, str]], vocabulary: str) -> None:
        """Set the BM25 tokens of passages (``(id, tokens)``) computed with ``vocabulary``, in one transaction.

        The links are marked dirty: the semantic linker weighs the words passages share.
        """
        with self.transaction() as con:
            con.executemany("UPDATE passages SET tokens=? WHERE id=?", [(words, pid) for pid, words in tokens])
            self._set_meta(con, "token_vocabulary", vocabulary)
            self._set_meta(con, "links_dirty", "1")
            self._bump(con)

    # -- what the configured servers (graph, vectors) hold of this store
    def sync_state(self, target: str) -> dict[str, str]:
        """Name → version of every part ``target`` holds, as recorded by :meth:`record_sync`."""
        return {r["name"]: r["hash"] for r in self._rows("SELECT name, hash FROM remote_sync WHERE target=?", (target,))}

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
