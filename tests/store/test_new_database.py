"""A new, empty database gets the newest schema in one step (``metadata.create_all``),
not by replaying every migration; both ways must give the same tables."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect

from aggregator.store import open_store
from aggregator.store.database import MIGRATIONS, SQLITE_PAGE_SIZE
from aggregator.store.schema import SCHEMA_REVISION
from tests.conftest import postgres_schema


def migrated(url: str) -> None:
    """Every migration, from nothing to the head, as an older release's database had."""
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()


def schema_of(url: str) -> dict[str, Any]:
    """What each table is, as the database itself reports it, in a comparable form."""
    engine = create_engine(url)
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for table in found.get_table_names():
        tables[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in found.get_columns(table)
            ),
            "primary key": found.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            "foreign keys": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str(f.get("options", {}).get("ondelete")),
                )
                for f in found.get_foreign_keys(table)
            ),
        }
    engine.dispose()
    return tables


@contextmanager
def another_database(url: str, tmp_path: Path) -> Iterator[str]:
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'created.db'}"
    else:
        with postgres_schema() as other:
            yield other


def test_a_new_database_gets_the_tables_the_migrations_make(
    database_url: str, tmp_path: Path
) -> None:
    migrated(database_url)
    with another_database(database_url, tmp_path) as created_url:
        store = open_store(created_url)  # empty: created in one step
        assert store.db._revision() == SCHEMA_REVISION
        store.close()
        created = schema_of(created_url)
    by_migrations = schema_of(database_url)
    assert created.keys() == by_migrations.keys()
    for table in by_migrations:
        assert created[table] == by_migrations[table], table


def test_a_database_with_tables_of_its_own_is_not_taken_for_a_new_one(tmp_path: Path) -> None:
    """Tables but no revision: not ours to fill in silently; Alembic decides (and says why)."""
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    engine.dispose()
    store = open_store(url)  # migrated by Alembic, beside the foreign table
    assert store.db._revision() == SCHEMA_REVISION
    store.close()
    assert "notes" in inspect(create_engine(url)).get_table_names()


def page_size(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_sqlite_database_has_large_pages_and_an_old_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    store.close()
    assert page_size(tmp_path / "new.db") == SQLITE_PAGE_SIZE

    # A database an earlier release made, with SQLite's default pages: opened and
    # written as before, never rebuilt.
    old = tmp_path / "old.db"
    migrated(f"sqlite:///{old}")
    assert page_size(old) == 4096
    store = open_store(f"sqlite:///{old}")
    store.add_feed("https://example.com/feed.xml", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert [feed.url for feed in store.list_feeds()] == ["https://example.com/feed.xml"]
    store.close()
    assert page_size(old) == 4096
