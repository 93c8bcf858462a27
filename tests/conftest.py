"""Shared fixtures: a fixed clock, settings from a temporary config, and the store on
every available backend (SQLite always; PostgreSQL when AGGREGATOR_TEST_DATABASE_URL
is set, each test in a schema of its own)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from aggregator.config import Settings, load
from aggregator.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_ENV = "AGGREGATOR_TEST_DATABASE_URL"
PG_URL = os.environ.get(PG_ENV, "")


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Write a config.toml in tmp_path (``extra`` appended to sensible test defaults)."""

    def make(extra: str = "", *, database_url: str | None = None) -> Settings:
        storage = database_url or f"sqlite:///{tmp_path / 'test.db'}"
        config = tmp_path / "config.toml"
        config.write_text(
            f'[storage]\nurl = "{storage}"\n'
            "[fetch]\nallow_private_networks = true\ntimeout = 5\n"
            f'[mail]\nmaildir = "{tmp_path / "mail"}"\n' + extra,
            encoding="utf-8",
        )
        return load(config, environ={})

    return make


def _postgres_schema_url(schema: str) -> str:
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if not PG_URL:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL of the test PostgreSQL whose search path is a new schema, dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    try:
        yield opened
    finally:
        opened.close()


def pytest_report_header(config: pytest.Config) -> str:
    if PG_URL:
        return f"storage tests: SQLite and PostgreSQL ({PG_ENV} is set)"
    return f"storage tests: SQLite only; PostgreSQL SKIPPED ({PG_ENV} is not set)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not PG_URL:
        terminalreporter.write_line(
            f"NOTE: PostgreSQL storage tests were skipped ({PG_ENV} is not set).", yellow=True
        )
