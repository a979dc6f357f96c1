"""The embedded store: one SQLite database in the data directory, written in transactions.

SQLite (WAL mode) is the store of record for documents, the graph and passage vectors; search
indexes are derived from it and can always be rebuilt. A document is written in one transaction,
so an interrupted ingest leaves the previous state intact. Every SQL statement of policykg lives
in this package:

* :mod:`.schema` — the DDL, the schema version, connections, transactions, the meta table;
* :mod:`.write` — writing and removing documents, writing links, recording what the servers hold;
* :mod:`.read` — reads of the domain model, passage vectors and tokens, small typed rows;
* :mod:`.summaries` — the read models the facade returns (regulations, measures, units, documents);
* :mod:`.coverage` — which articles of a regulation have implementing measures, by year and unit;
* :mod:`.overview` — units × regulations (or years) weighted by measures, and one edge's measures.
"""

from __future__ import annotations

from pathlib import Path

from policykg.graph.store.overview import StoreOverview
from policykg.graph.store.read import PassageSyncRow, StoredPassage
from policykg.graph.store.schema import SCHEMA_VERSION, StoreError
from policykg.graph.store.summaries import StoreSummaries
from policykg.graph.store.write import StoreWrites


class SQLiteStore(StoreWrites, StoreOverview, StoreSummaries):
    """``<data>/policykg.sqlite``: documents, the graph and passage vectors (``readonly``: never creates it;
    ``full_paths``: reads show the absolute paths documents were ingested from, not their display paths)."""

    def __init__(self, path: Path, *, readonly: bool = False, full_paths: bool = False) -> None:
        super().__init__(path, readonly=readonly, full_paths=full_paths)


__all__ = ["SCHEMA_VERSION", "PassageSyncRow", "SQLiteStore", "StoreError", "StoredPassage"]
