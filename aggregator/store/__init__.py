"""Stage 4, store: the only package that speaks SQL.

:class:`Store` is the one object the rest of the program talks to; its queries
are grouped by table family in ``feeds.py``, ``entries.py`` and ``digests.py``,
the tables are in ``schema.py`` and migrations (Alembic, append-only) in
``migrations/``. SQLite by default, PostgreSQL with the same code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aggregator.store.database import Database, open_database
from aggregator.store.digests import DigestQueries
from aggregator.store.entries import EntryQueries
from aggregator.store.feeds import FeedQueries

__all__ = ["Store", "open_store"]


class Store(FeedQueries, EntryQueries, DigestQueries):
    def __init__(self, db: Database) -> None:
        self.db = db

    def ping(self) -> bool:
        return self.db.ping()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The queries run inside commit together, or not at all."""
        with self.db.write():
            yield

    def close(self) -> None:
        self.db.close()


def open_store(url: str) -> Store:
    """Open (and migrate) the database at ``url``; raises ``StoreError`` with a readable message."""
    return Store(open_database(url))
