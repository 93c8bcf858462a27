"""Connections, transactions and migrations; the only place that knows the backend.

SQLite (the embedded default) runs in WAL mode so readers (the web server) never
wait for the writer (the fetcher). Writes go through one in-process lock and open
with ``BEGIN IMMEDIATE``: a deferred transaction that later needs to write can fail
with "database is locked" at once, while an immediate one waits (busy_timeout) for
another process such as a CLI command. PostgreSQL needs neither and gets neither.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    UpdateBase,
    create_engine,
    event,
    inspect,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from aggregator.errors import StoreError
from aggregator.store.schema import SCHEMA_REVISION, metadata

# Alembic's own record of the schema revision, as Alembic creates it.
alembic_version = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
# The page size of a new SQLite database (SQLite's default is 4 KiB). An entry's HTML
# is a few kilobytes: at 4 KiB most rows spill into overflow pages, and a first pass
# writes each page twice (the WAL, then the checkpoint) with a system call per page.
# At 16 KiB storing a first pass took a seventh less CPU (bench/store.py's docstring); an
# existing database keeps the size it was created with.
SQLITE_PAGE_SIZE = 16_384


class Database:
    """An engine plus the transaction discipline described in the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _create_engine(url)
        self._write_lock = threading.Lock()
        self._compiled: dict[UpdateBase, _Compiled] = {}  # see Writer.executemany
        self._open = threading.local()  # .connection: this thread's open write(), if any

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on any exception.

        Inside another ``write()`` of the same thread it is part of that transaction
        (the outer one commits), so a caller can make several queries one transaction:
        a fetched document's entries and its feed's new polling state, say."""
        outer: Connection | None = getattr(self._open, "connection", None)
        if outer is not None:
            yield outer
            return
        with self.writer() as writer, writer.transaction() as conn:
            self._open.connection = conn
            try:
                yield conn
            finally:
                self._open.connection = None

    def executemany(
        self, conn: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """:meth:`Writer.executemany` on a connection of :meth:`write`."""
        _executemany(conn, self._compiled, statement, rows)

    @contextmanager
    def writer(self) -> Iterator[Writer]:
        """A connection kept for many write transactions, for a caller that commits often
        (a delivery pass commits hundreds of times: taking a connection from the pool and
        giving it back costs more than the small statement each commit runs)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            yield Writer(conn, self._write_lock, self._compiled)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is already there)."""
        revision = self._revision()
        if revision == SCHEMA_REVISION:
            return  # the usual case, answered without loading Alembic (a third of start-up)
        if revision is None and self._create_if_empty():
            return
        from alembic import command
        from alembic.config import Config as AlembicConfig
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        try:
            with self.write() as conn:
                if MigrationContext.configure(conn).get_current_revision() == head:
                    return
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot migrate the database at {self.safe_url}: {_reason(exc)}"
            ) from exc

    def _create_if_empty(self) -> bool:
        """On a database without any table, create the newest schema at once and record
        its revision, as Alembic's own recipe for a new database does: the same tables
        as running every migration (a test compares the two), without loading Alembic
        and replaying each step (a tenth of a first ``fetch``). False if not empty."""
        try:
            with self.write() as conn:
                if inspect(conn).get_table_names():
                    return False
                metadata.create_all(conn)
                alembic_version.create(conn)
                conn.execute(alembic_version.insert().values(version_num=SCHEMA_REVISION))
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot create the database at {self.safe_url}: {_reason(exc)}"
            ) from exc
        return True

    def _revision(self) -> str | None:
        """The schema revision Alembic recorded, or None (no table yet, or unreadable)."""
        try:
            with self.read() as conn:
                row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        except SQLAlchemyError:
            return None
        return str(row[0]) if row else None

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def ping(self) -> bool:
        try:
            with self.read() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


class Writer:
    """Write transactions on one connection, each as :meth:`Database.write` opens them:
    under the process's write lock, with ``BEGIN IMMEDIATE`` on SQLite. One transaction
    at a time: the lock also keeps two threads off the connection at once."""

    def __init__(
        self, conn: Connection, lock: threading.Lock, compiled: dict[UpdateBase, _Compiled]
    ) -> None:
        self._conn = conn
        self._lock = lock
        self._compiled = compiled  # the database's, shared by its writers

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Committed on success, rolled back on any exception."""
        with self._lock, self._conn.begin():
            yield self._conn

    def executemany(self, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
        """``statement`` (a module-level constant) once per row of parameters, inside a
        :meth:`transaction`. Compiled for the backend once per database and handed to the
        driver as it is, with each value converted as its column's type says: SQLAlchemy's
        own path (cache key, parameter processing, result set-up) cost more client CPU
        than SQLite spends running a small statement. Errors are SQLAlchemy's as usual."""
        _executemany(self._conn, self._compiled, statement, rows)


def _executemany(
    conn: Connection,
    cache: dict[UpdateBase, _Compiled],
    statement: UpdateBase,
    rows: Sequence[Mapping[str, Any]],
) -> None:
    compiled = cache.get(statement)
    if compiled is None:
        compiled = cache[statement] = _Compiled.of(statement, conn.dialect)
    conn.exec_driver_sql(compiled.sql, [compiled.parameters(row) for row in rows])


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as the driver takes it, and how to turn named values into its parameters."""

    sql: str
    names: tuple[str, ...] | None  # in order, for a positional paramstyle (SQLite's "?")
    convert: dict[str, Callable[[Any], Any]]  # by name, the values a type converts

    @classmethod
    def of(cls, statement: UpdateBase, dialect: Dialect) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        convert: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                convert[name] = processor
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(sql=compiled.string, names=names, convert=convert)

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        convert = self.convert
        if self.names is not None:
            return tuple(
                convert[name](row[name]) if name in convert else row[name] for name in self.names
            )
        return {
            name: convert[name](value) if name in convert else value for name, value in row.items()
        }


def _create_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"the database driver {exc.name!r} is not installed "
            "(for PostgreSQL: pip install 'aggregator[postgres]')"
        ) from None
    except OSError as exc:
        raise StoreError(f"cannot create the database folder for {url}: {exc}") from None


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the sqlite3 module so BEGIN is ours (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Before WAL mode: switching to it writes the first page of a new database, and
    # the size is fixed from then on (on an existing database this does nothing).
    cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    # Straight to the driver: through exec_driver_sql this BEGIN cost about as much
    # client CPU as the statement of a small transaction (a delivery pass runs hundreds).
    driver = conn.connection.driver_connection
    assert driver is not None  # begin runs on a live connection
    driver.execute(f"BEGIN {mode}")


def _reason(exc: SQLAlchemyError) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig).strip().splitlines()[0]
    return str(exc).splitlines()[0]


def open_database(url: str) -> Database:
    database = Database(url)
    try:
        database.migrate()
    except StoreError:
        database.close()
        raise
    except SQLAlchemyError as exc:
        database.close()
        raise StoreError(
            f"cannot open the database at {database.safe_url}: {_reason(exc)}"
        ) from exc
    return database
