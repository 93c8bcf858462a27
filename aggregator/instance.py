"""One scheduling daemon per database: the lock ``aggregator run`` holds while it schedules.

Two daemons polling and sending from one store would fetch every feed twice and could
send a digest twice. So the daemon takes a lock before it schedules anything:

* SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the database file. A second
  daemon on the same file refuses to start, naming the first (pid, host, start time);
  the lock file also tells ``aggregator reload`` which process to signal. The kernel
  drops the lock when the process dies, even by SIGKILL: a crash never leaves a stale
  lock behind.
* PostgreSQL: a session-level advisory lock, held on a connection of its own. Daemons on
  several machines may share one database: the one that holds the lock schedules, the
  others serve the web and wait as standbys, taking over when it stops. The lock's
  session is named after the daemon (``application_name``: pid and host), which is how
  ``aggregator reload`` and ``status`` find it there (:func:`holder_of`).
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from aggregator.errors import DaemonRunningError

try:
    import fcntl
except ImportError:  # Windows: no flock; one daemon per database is then up to the user
    fcntl = None  # type: ignore[assignment]

# pg_advisory_lock takes a bigint: a hash of this, the database and the schema, so that
# deployments in separate schemas of one database each elect their own scheduler.
_ADVISORY_KEY_SQL = (
    "SELECT hashtextextended('aggregator scheduler:' || current_database() || ':'"
    " || current_schema(), 0)"
)


class SchedulerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock if it is free; True when this process now holds it."""

    def release(self) -> None: ...

    @property
    def holder(self) -> str:
        """Who holds it, in words, for the message when ``acquire`` failed."""


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int  # 0: not known (a PostgreSQL session that does not name its daemon)
    host: str  # may be cut short (PostgreSQL keeps 63 bytes of a session's name)
    since: str
    session: str = ""  # the database session holding the lock, in words (PostgreSQL)

    def describe(self) -> str:
        where = f"pid {self.pid} on {self.host}, since {self.since}" if self.pid else ""
        return "; ".join(part for part in (where, self.session) if part)

    def alive(self) -> bool | None:
        """Whether the recorded process still runs; None when it runs on another host
        (or is not known)."""
        here = socket.gethostname()
        # A host name cut short by PostgreSQL still has 36 bytes or more.
        if not self.pid or not (
            self.host == here or len(self.host) >= 36 and here.startswith(self.host)
        ):
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, under another user
            return True
        return True


def lock_path_for(database_url: str) -> Path | None:
    """``<database>.lock`` for a SQLite file; None for other databases (and in memory)."""
    if not database_url.startswith("sqlite") or "///" not in database_url:
        return None
    path = database_url.split("///", 1)[1].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path + ".lock").resolve()


def read_holder(path: Path) -> Holder | None:
    """The daemon recorded in a lock file, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(pid=int(data["pid"]), host=str(data["host"]), since=str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class FileLock:
    """An exclusive flock on a file beside the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if fcntl is None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        since = datetime.now(UTC).isoformat(timespec="seconds")
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "since": since}, handle)
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is None:
            return
        # Emptied first: a reader that finds the file between our unlock and unlink sees
        # no daemon rather than a stopped one.
        with suppress(OSError):
            self._file.truncate(0)
            self.path.unlink()
        self._file.close()  # closing drops the flock
        self._file = None

    @property
    def holder(self) -> str:
        found = read_holder(self.path)
        return found.describe() if found else "another process"


class AdvisoryLock:
    """A PostgreSQL session advisory lock on a connection kept for as long as it is held."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return True
        connection = self.engine.connect()
        try:
            key = self._key(connection)
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            ).scalar_one()
            if taken:
                # Names this process on its session, so `aggregator reload` and `status`
                # on any machine can tell which daemon holds the lock (see holder_of).
                connection.execute(
                    text("SELECT set_config('application_name', :name, false)"),
                    {"name": _session_name()},
                )
            connection.commit()  # the lock is the session's, not the transaction's
        except Exception:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        with suppress(Exception):  # a lost connection released the lock already
            self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": self._key(self._connection)}
            )
            self._connection.commit()
        self._connection.close()
        self._connection = None

    @staticmethod
    def _key(connection: Connection) -> int:
        return int(connection.execute(text(_ADVISORY_KEY_SQL)).scalar_one())

    def session(self) -> Holder | None:
        """Who holds the lock: its daemon as the session names it (pid 0 when it does
        not) and the database session; None when nobody holds it."""
        with self.engine.connect() as connection:
            key = self._key(connection)
            row = connection.execute(
                text(
                    "SELECT a.pid, a.client_addr, a.backend_start, a.application_name"
                    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND (l.classid::bigint << 32) | l.objid::bigint = :key"
                ),
                {"key": key},
            ).first()
        if row is None:
            return None
        where = row.client_addr or "a local socket"
        since = f"{row.backend_start:%Y-%m-%d %H:%M}"
        session = f"database session {row.pid} from {where}, since {since}"
        pid, host = _parse_session_name(row.application_name or "")
        return Holder(pid=pid, host=host, since=since, session=session)

    @property
    def holder(self) -> str:
        found = self.session()
        return "another daemon" if found is None else found.describe()


_SESSION_PREFIX = "aggregator daemon "


def _session_name() -> str:
    # application_name keeps 63 bytes: a long host name is cut, never the pid.
    return f"{_SESSION_PREFIX}{os.getpid()} {socket.gethostname()}"[:63]


def _parse_session_name(name: str) -> tuple[int, str]:
    """(pid, host) from a session name of ours; (0, "") from any other."""
    pid, _, host = name.removeprefix(_SESSION_PREFIX).partition(" ")
    if not name.startswith(_SESSION_PREFIX) or not pid.isdigit():
        return 0, ""
    return int(pid), host


def holder_of(database_url: str, engine: Engine | None = None) -> Holder | None:
    """The daemon scheduling on this database, as its lock records it: the lock file's
    record (SQLite) or the advisory lock's session (PostgreSQL); None when no daemon
    holds the lock. ``engine``: the caller's own, when it has the store open already."""
    path = lock_path_for(database_url)
    if path is not None:
        return read_holder(path)
    if engine is not None:
        return AdvisoryLock(engine).session() if engine.dialect.name == "postgresql" else None
    own = create_engine(database_url, poolclass=NullPool)
    try:
        return holder_of(database_url, own)
    finally:
        own.dispose()


def scheduler_lock(database_url: str, engine: Engine) -> SchedulerLock | None:
    """The lock for this database: a file lock (SQLite), an advisory lock (PostgreSQL)."""
    path = lock_path_for(database_url)
    if path is not None:
        return FileLock(path)
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine)
    return None


def refuse_second_daemon(lock: FileLock, database: str) -> DaemonRunningError:
    return DaemonRunningError(
        f"another aggregator daemon is already running on {database} ({lock.holder}; "
        f"lock file {lock.path}); stop it first, or run `aggregator reload` to make it "
        "read a changed config"
    )
