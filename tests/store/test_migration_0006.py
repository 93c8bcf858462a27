"""Migration 0006 on a database that already has subscribers and deliveries: the rows
stay, the readers keep receiving, and downgrading removes exactly what it added."""

from __future__ import annotations

from datetime import datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from aggregator.store import open_store
from aggregator.store.database import MIGRATIONS
from aggregator.store.schema import SCHEMA_REVISION


def alembic(url: str, action: str, revision: str) -> None:
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
    engine.dispose()


def test_0006_keeps_subscribers_and_downgrades_cleanly(database_url: str, now: datetime) -> None:
    alembic(database_url, "upgrade", "0004")
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (digest, email, active, origin, created_at) "
                "VALUES ('daily', 'old@x.example', true, 'user', :now)"
            ),
            {"now": now.replace(tzinfo=None)},
        )
    store = open_store(database_url)  # migrates to the head at start-up
    try:
        assert store.db._revision() == SCHEMA_REVISION
        (old,) = store.list_subscribers("daily")
        assert old.email == "old@x.example" and old.active
        assert store.app_secret("tokens", now=now)
    finally:
        store.close()
    alembic(database_url, "downgrade", "0004")
    columns = {c["name"] for c in inspect(engine).get_columns("subscribers")}
    assert not {"confirmed_at", "confirm_sent_at", "unsubscribed_at"} & columns
    assert "app_secrets" not in inspect(engine).get_table_names()
    engine.dispose()
