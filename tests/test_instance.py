"""The scheduler lock: one daemon per SQLite file, one elected scheduler on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from aggregator.instance import AdvisoryLock, FileLock, holder_of, lock_path_for, read_holder
from tests.conftest import PG_ENV, PG_URL, postgres_schema


def test_the_lock_file_sits_beside_the_sqlite_database(tmp_path: Path) -> None:
    assert lock_path_for(f"sqlite:///{tmp_path}/var/a.db") == tmp_path / "var" / "a.db.lock"
    assert lock_path_for("sqlite:///:memory:") is None
    assert lock_path_for("postgresql+psycopg://u@h/db") is None


def test_a_second_holder_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "a.db.lock"
    first, second = FileLock(path), FileLock(path)
    assert first.acquire()
    try:
        assert not second.acquire()
        holder = read_holder(path)
        assert holder is not None and holder.pid == os.getpid()
        assert f"pid {os.getpid()}" in second.holder
    finally:
        first.release()
    assert not path.exists()
    assert second.acquire()  # free again once released
    second.release()


def test_a_killed_daemon_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "a.db.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from aggregator.instance import FileLock
                lock = FileLock(Path({str(path)!r}))
                assert lock.acquire()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not FileLock(path).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
        if holder.stdout is not None:
            holder.stdout.close()
    # The kernel dropped the flock with the process; the file it left says nothing true.
    after = FileLock(path)
    assert after.acquire()
    holder_now = read_holder(path)
    assert holder_now is not None and holder_now.pid == os.getpid()
    after.release()


@pytest.mark.postgres
def test_postgres_elects_one_scheduler_per_schema() -> None:
    if not PG_URL:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    with postgres_schema() as url, postgres_schema() as other_url:
        engines = [create_engine(u) for u in (url, url, other_url)]
        first, second, elsewhere = (AdvisoryLock(e) for e in engines)
        try:
            assert first.acquire()
            assert not second.acquire()
            assert "database session" in second.holder
            # The lock's session names the daemon's process, for reload and status.
            assert f"pid {os.getpid()}" in second.holder
            found = holder_of(url)
            assert found is not None and found.pid == os.getpid() and found.alive() is True
            assert elsewhere.acquire()  # another schema is another deployment
            first.release()
            assert second.acquire()  # the standby takes over
        finally:
            for lock in (first, second, elsewhere):
                lock.release()
            for engine in engines:
                engine.dispose()
