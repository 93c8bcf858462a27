"""The daemon's heavy passes in child processes: clustering, and digest issues with
their deliveries. What stays in the daemon (polling, storing, the web) keeps its memory
level; what these passes take goes back to the system with their process.

Why. pymalloc gives an arena (1 MiB) back only once every block in it is free. A pass
that makes and frees hundreds of thousands of short-lived objects, while the process
also allocates a few that live on, leaves arenas that are nearly empty but cannot be
given back, and the daemon's memory rose pass after pass while what Python held did
not (``bench/soak.py``). In-process passes (``bench/soak.py --trace``) found two such
passes: clustering, whose standing index keeps every entry of the window (its keys,
postings and stories) among each batch's signatures and shingles, and building a
digest issue, which reads the stories of its window and the digest's history; without
either, the passes are level. Clustering alone, in a process of its own, is level too.

So the daemon clusters in :class:`ClusteringProcess`: a child that keeps the standing
clusterer (``pipeline.KeptClusterer``) from one tick to the next and opens the daemon's
database itself. Its memory after its first pass is its reference; once a pass leaves
it ``RECYCLE_GROWTH`` above that, the child is stopped, which gives all of its memory
back, and the next pass starts another, whose standing clusterer is built from the
store (the way Celery's ``worker_max_memory_per_child`` and gunicorn's ``max_requests``
bound what fragmentation takes). A rebuilt clusterer plans exactly as the old one
would have (``aggregator.cluster.standing``), so placements do not change. A tick whose
digest is due builds the issue and sends its deliveries in :class:`DigestProcess`, a
child stopped when the tick is done. The daemon itself never imports the clustering
code.

A database only this process can see (SQLite in memory) cannot be shared: the daemon
then runs these passes in its own process (:func:`shareable`).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from aggregator.errors import AggregatorError

if TYPE_CHECKING:
    from aggregator.config import Settings
    from aggregator.store import Store

log = logging.getLogger(__name__)

# How far above its reference (its memory after its first pass) a pass may leave the
# clustering process before it is started again: a bound for what a longer run or
# another load may still add, and for the window's growth after a start on a young
# store (the first pass then holds a small window; the process is started again as the
# window fills, once, in the soak's seventh minute). Not a bound of its normal course:
# its index holds the window and half a window (6 h at most) before it
# (cluster.late_margin), and drops the entries before that a quarter of its size at a
# time, so a process going on moves between about 1.0 and 1.1 of the first pass of one
# started with a full window
# (bench/clustering_memory.py --recycle: 102.7 to 112.4 MB over 30 simulated minutes,
# arenas 46 to 48). At 8 % (until 2026-12-07) that course restarted it every few minutes
# once a rebuild was compact (a chunk at a time, cluster.PLACE_CHUNK): 24 restarts in 40
# minutes; before that, each rebuild's peak made the new process larger than the old.
# Each restart costs the start of an interpreter and a rebuild of the window from the
# store: the soak's pass after a restart took about 2 s longer than the others.
RECYCLE_GROWTH = 0.25
# How often a child looks whether the daemon is still there (see _exit_with_parent).
PARENT_CHECK_SECONDS = 0.2
STOP_TIMEOUT = 10.0  # seconds a stopped child has to exit before it is killed


class OffloadError(AggregatorError):
    """A child process failed a pass or stopped (the next tick tries again)."""


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


class PassProcess:
    """Pipeline steps run in a child process that opens the daemon's database itself;
    the child lives from one call to the next until :meth:`close`, or until a call
    leaves its memory ``growth`` above what it was after its first call."""

    role = "passes"  # named on the child's command line (ps, bench/soak.py)

    def __init__(self, growth: float = math.inf) -> None:
        self.growth = growth
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self.reference_mb: float | None = None  # the child's memory after its first call
        self.resident_mb: float | None = None  # and after its last one
        self.started = 0  # child processes started so far
        self.recycled = 0  # of them stopped for their memory

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._connection is not None

    def call(self, step: str, settings: Settings, *, now: datetime, **options: object) -> int:
        """Run ``step`` (see :func:`serve`) in the child, starting one if none runs."""
        with self._lock:
            connection = self._connection or self._start()
            try:
                connection.send((step, settings, now, options))
                answer = connection.recv()
            except (EOFError, OSError):
                self._stop()
                raise OffloadError(
                    f"the process running {step} stopped during the pass (out of memory, "
                    "or killed); the next tick starts another"
                ) from None
            ok, result, resident = answer
            self._measured(resident)
        if not ok:
            raise OffloadError(f"{step} failed in its process: {result}")
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
                "Child process restarted to give its memory back",
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
                    "aggregator.offload",
                    str(theirs.fileno()),
                    str(root.getEffectiveLevel()),
                    "json" if "JsonFormatter" in formats else "text",
                    self.role,
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
        """Stop the child. A pass still under way is cut short: the store takes a plan or
        a delivery's outcome whole or not at all, and the next pass does the rest."""
        if self._lock.acquire(timeout=1.0):
            try:
                self._stop()
            finally:
                self._lock.release()
        elif self._process is not None:
            self._process.kill()


class ClusteringProcess(PassProcess):
    """The clustering step of the daemon's ticks, in a child that keeps its standing
    clusterer from one tick to the next and is started again once a pass leaves it
    ``growth`` above its memory after its first pass."""

    role = "clustering"

    def __init__(self, growth: float = RECYCLE_GROWTH) -> None:
        super().__init__(growth)

    def cluster(self, store: Store, settings: Settings, *, now: datetime, batch: int) -> int:
        """What ``pipeline.cluster_new_entries`` does, in the child; returns how many
        entries were placed. ``store`` is the daemon's: it only says whether there is
        anything to cluster (most ticks bring nothing new)."""
        if not store.unclustered_entries(limit=1):
            return 0
        return self.call("cluster", settings, now=now, batch=batch)


class DigestProcess(PassProcess):
    """A tick's digest issues and deliveries, in a child started when one is due and
    stopped when the tick is done (:meth:`close`): building an issue reads the stories
    of its window and the digest's history, rendering it makes every reader's copy, and
    what the daemon keeps meanwhile would keep that peak's memory. A tick with nothing
    due (almost all of them) starts nothing: it runs the steps here, where they only
    read the digests' states and find no delivery to claim."""

    role = "digests"

    def run_due_digests(self, store: Store, settings: Settings, *, now: datetime) -> int:
        """``pipeline.run_due_digests``; returns how many issues were built."""
        from aggregator import digest, pipeline

        due = pipeline.due_digests(store, settings, now=now)
        if not any(decision is digest.Due.RUN for _, _, decision in due):
            # Skipped runs are only logged and moved on: here, as the daemon would.
            return len(pipeline.run_due_digests(store, settings, now=now))
        return self.call("run_due_digests", settings, now=now)

    def deliver_pending(self, store: Store, settings: Settings, *, now: datetime) -> int:
        """``pipeline.deliver_pending``; returns how many messages were sent."""
        from aggregator import pipeline

        if self.running or store.due_deliveries(now, limit=1):
            return self.call("deliver_pending", settings, now=now)
        return pipeline.deliver_pending(store, settings, now=now).sent


def serve(connection: Connection) -> None:
    """The child: one pipeline step per request, a standing clusterer kept between them,
    until the daemon closes the connection."""
    from aggregator import pipeline
    from aggregator.memory import release_free_memory, tune_malloc
    from aggregator.store import open_store

    tune_malloc()
    kept = pipeline.KeptClusterer()

    def cluster(store: Store, settings: Settings, now: datetime, batch: int) -> int:
        return pipeline.cluster_new_entries(store, settings, now=now, batch=batch, kept=kept)

    def digests(store: Store, settings: Settings, now: datetime) -> int:
        return len(pipeline.run_due_digests(store, settings, now=now))

    def deliver(store: Store, settings: Settings, now: datetime) -> int:
        return pipeline.deliver_pending(store, settings, now=now).sent

    steps: dict[str, Callable[..., int]] = {
        "cluster": cluster,
        "run_due_digests": digests,
        "deliver_pending": deliver,
    }
    store: Store | None = None
    url = ""
    while True:
        try:
            step, settings, now, options = connection.recv()
        except (EOFError, OSError):
            break
        try:
            if store is None or url != settings.storage.url:
                if store is not None:
                    store.close()
                store, url = open_store(settings.storage.url), settings.storage.url
            answer: tuple[bool, object] = (True, steps[step](store, settings, now, **options))
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


def _exit_with_parent(parent: int) -> None:
    """Stop this process as soon as the daemon that started it is gone (SIGKILL, out of
    memory): a digest pass going on alone would send beside the restarted daemon, which
    takes over the dead one's claims, and a reader would get two copies. Stopped
    mid-pass, it leaves what a daemon killed mid-pass leaves, which the ledger recovers."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def main(argv: list[str]) -> None:
    import signal

    from aggregator.logs import configure_logging

    # Ctrl-C reaches the whole process group, and systemd sends SIGTERM to every process
    # of the service: the daemon lets the pass under way finish (within its stop timeout)
    # and then stops this process itself. Should the daemon die instead, this process
    # reads the end of its input after the pass and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    watch = threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="parent-watch", daemon=True
    )
    watch.start()
    descriptor, level, log_format, *_role = argv  # the role only names the process
    configure_logging(int(level), "json" if log_format == "json" else "text")
    serve(Connection(int(descriptor)))


if __name__ == "__main__":
    main(sys.argv[1:])
