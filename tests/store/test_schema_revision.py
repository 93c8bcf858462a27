"""The schema revision start-up trusts is the migrations folder's head."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from aggregator.store import open_store
from aggregator.store.database import MIGRATIONS
from aggregator.store.schema import SCHEMA_REVISION


def test_schema_revision_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_REVISION


def test_a_new_database_is_migrated_to_it_and_reopening_keeps_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    store = open_store(url)
    assert store.db._revision() == SCHEMA_REVISION
    store.close()
    again = open_store(url)  # the quick path: no migration, same schema
    assert again.db._revision() == SCHEMA_REVISION
    assert again.count_entries() == 0
    again.close()
