"""The daemon's clustering in a process of its own, started again when its memory grows.

Clustering is the one part of the daemon that keeps many small Python objects for a
long time: the standing clusterer's index holds every entry of the window (its keys,
postings and stories), made during passes that also make and free hundreds of
thousands of short-lived objects (signatures, shingles, rows). pymalloc gives an arena
(1 MiB) back only once every block in it is free, so the index's entries, scattered
among a pass's short-lived objects, keep arenas that are nearly empty: the process's
memory rose pass after pass while what Python held did not (``bench/soak.py``: the
in-process passes without clustering are level, with it they climb about 0.8 MB a pass).

So the daemon clusters in a child process, :class:`ClusteringProcess`, which keeps the
standing clusterer (``pipeline.KeptClusterer``) from one pass to the next and opens the
daemon's database itself. The child's memory after its first pass is its reference;
once a pass leaves it ``RECYCLE_GROWTH`` above that, the child is stopped, which gives
all of its memory back, and the next pass starts another, whose standing clusterer is
built from the store (the way Celery's ``worker_max_memory_per_child`` and gunicorn's
``max_requests`` bound what fragmentation takes). A rebuilt clusterer plans exactly as
the old one would have (``aggregator.cluster.standing``), so placements do not change.
The daemon itself never imports the clustering code.

A database only this process can see (SQLite in memory) cannot be shared: the daemon
then clusters in its own process (:func:`shareable`).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import traceback
from datetime import datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from aggregator.errors import AggregatorError

if TYPE_CHECKING:
    from aggregator.config import Settings
    from aggregator.store import Store

log = logging.getLogger(__name__)

# How far above its reference (its memory after its first pass) a pass may leave the
# clustering process before it is started again. The soak's process grows about 0.8 MB
# a minute of heavy news on a reference of about 110 MB, so it restarts every quarter of
# an hour there; a daemon with a usual load restarts it far less often. Each restart
# costs the start of an interpreter and a rebuild of the window from the store (about
# a second for the soak's 9,000 entries).
RECYCLE_GROWTH = 0.08
STOP_TIMEOUT = 10.0  # seconds a stopped clustering process has to exit before it is killed


class ClusteringError(AggregatorError):
    """The clustering process failed a pass or stopped (the next tick tries again)."""


def shareable(url: str) -> bool:
    """Whether another process can open the database at ``url`` (not SQLite in memory)."""
    if not url.startswith("sqlite"):
        return True
    path = url.split("///", 1)[1] if "///" in url else ""
    return bool(path) and not path.startswith(":memory:") and "mode=memory" not in path


def resident_mb() -> float | None:
    """This process's resident memory in MB (Linux: ``/proc``), None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class ClusteringProcess:
    """The clustering step of the daemon's ticks, run in a child process that keeps its
    clusterer from one tick to the next (see the module's docstring)."""

    def __init__(self, growth: float = RECYCLE_GROWTH) -> None:
        self.growth = growth
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self.reference_mb: float | None = None  # the child's memory after its first pass
        self.resident_mb: float | None = None  # and after its last one
        self.started = 0  # child processes started so far
        self.recycled = 0  # of them stopped for their memory

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def cluster(self, store: Store, settings: Settings, *, now: datetime, batch: int) -> int:
        """What ``pipeline.cluster_new_entries`` does, in the child; returns how many
        entries were placed. ``store`` is the daemon's: it only says whether there is
        anything to cluster (most ticks bring nothing new)."""
        if not store.unclustered_entries(limit=1):
            return 0
        with self._lock:
            connection = self._connection or self._start()
            try:
                connection.send((settings, now, batch))
                answer = connection.recv()
            except (EOFError, OSError):
                self._stop()
                raise ClusteringError(
                    "the clustering process stopped during a pass (out of memory, or "
                    "killed); the next tick starts another"
                ) from None
            ok, result, resident = answer
            self._measured(resident)
        if not ok:
            raise ClusteringError(f"clustering failed in its process: {result}")
        assert isinstance(result, int)
        return result

    def _measured(self, resident: float | None) -> None:
        self.resident_mb = resident
        if resident is None:
            return
        if self.reference_mb is None:
            self.reference_mb = resident
        if resident > self.reference_mb * (1 + self.growth):
            log.info(
                "Clustering process restarted to give its memory back",
                extra={
                    "resident_mb": round(resident, 1),
                    "reference_mb": round(self.reference_mb, 1),
                },
            )
            self.recycled += 1
            self._stop()

    def _start(self) -> Connection:
        # Not fork (the daemon has threads) and not multiprocessing's spawn (which runs
        # the daemon's main module again): an interpreter that imports only what it needs.
        ours, theirs = socket.socketpair()
        with theirs:
            root = logging.getLogger("aggregator")
            formats = {type(h.formatter).__name__ for h in root.handlers}
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aggregator.clustering",
                    str(theirs.fileno()),
                    str(root.getEffectiveLevel()),
                    "json" if "JsonFormatter" in formats else "text",
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        self._connection = Connection(ours.detach())
        self.reference_mb = None
        self.started += 1
        return self._connection

    def _stop(self) -> None:
        if self._connection is not None:
            self._connection.close()  # the child reads the end of its input and exits
            self._connection = None
        if self._process is not None:
            try:
                self._process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        """Stop the child (the daemon is stopping). A pass still under way is cut short:
        the store takes a plan whole or not at all, and the next start places the rest."""
        if self._lock.acquire(timeout=1.0):
            try:
                self._stop()
            finally:
                self._lock.release()
        elif self._process is not None:
            self._process.kill()


def serve(connection: Connection) -> None:
    """The child: one pass per request, a standing clusterer kept between them, until
    the daemon closes the connection."""
    from aggregator import pipeline
    from aggregator.memory import release_free_memory, tune_malloc
    from aggregator.store import open_store

    tune_malloc()
    kept = pipeline.KeptClusterer()
    store: Store | None = None
    url = ""
    while True:
        try:
            settings, now, batch = connection.recv()
        except (EOFError, OSError):
            break
        try:
            if store is None or url != settings.storage.url:
                if store is not None:
                    store.close()
                store, url = open_store(settings.storage.url), settings.storage.url
            answer: tuple[bool, object] = (
                True,
                pipeline.cluster_new_entries(store, settings, now=now, batch=batch, kept=kept),
            )
        except Exception as exc:
            text = (
                str(exc)
                if isinstance(exc, AggregatorError)
                else "".join(traceback.format_exception(exc))
            )
            answer = (False, text)
        release_free_memory()
        try:
            connection.send((*answer, resident_mb()))
        except OSError:  # the daemon is gone
            break
    if store is not None:
        store.close()


def main(argv: list[str]) -> None:
    import signal

    from aggregator.logs import configure_logging

    # Ctrl-C reaches the whole process group: the daemon stops this process itself, once
    # the pass under way is done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    descriptor, level, log_format = argv
    configure_logging(int(level), "json" if log_format == "json" else "text")
    serve(Connection(int(descriptor)))


if __name__ == "__main__":
    main(sys.argv[1:])
