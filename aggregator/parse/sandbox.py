"""Run the tolerant parser (or a whole parse stage) in a worker process, under a time and a
memory bound.

The fast path (lxml, C) has hard limits of its own. The fallback, feedparser, is pure
Python with a regex-driven SGML mode: a hostile ill-formed document could keep it busy
for a long time or make it allocate without end, in the daemon's own process. So the
fallback parses in one worker process, started on first use with an address-space
limit (``RLIMIT_AS``), and killed and replaced when a parse outlives the timeout. One
parse at a time: fallbacks are rare (most feeds are well-formed).

The worker runs any ``"module:function"`` on anything with a ``url``:
:mod:`aggregator.workers` keeps several of them running parse and normalize together.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any, Protocol

from aggregator.errors import ParseError
from aggregator.memory import release_free_memory, tune_malloc
from aggregator.model import ParsedDocument, RawDocument


@dataclass(frozen=True, slots=True)
class ParseLimits:
    timeout: float = 10.0
    memory_mb: int = 1024


PARSER = "aggregator.parse.feed:parse_xml_feed"
# A new worker says it is ready once its imports are done, so that the parse timeout
# counts the parse alone: on a busy machine the start-up may take longer than a short
# timeout, and the first document would be blamed for it. The start-up has its own bound.
READY = "ready"
START_TIMEOUT = 60.0
# A worker that waited this long for its next document trims its malloc heap.
IDLE_SECONDS = 1.0
# The worker's send buffer: a feed's prepared entries pickle to a few hundred kilobytes.
ANSWER_BUFFER = 1 << 20


class Work(Protocol):
    """What a worker is handed: a document, or a job about one. Errors name its URL."""

    @property
    def url(self) -> str: ...


def serve(connection: Connection, memory_mb: int, parser: str) -> None:
    """The worker process: run the function on what arrives, answer with its result or an
    error (started by :mod:`aggregator.parse.worker_process`)."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # no RLIMIT_AS on this platform: the time bound still holds
    # Ctrl-C reaches the whole process group; the parent decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_malloc()
    module, _, name = parser.partition(":")
    served = importlib.import_module(module)
    function = getattr(served, name)
    # What the function loads on its first call (lxml, nh3, the noise rules) is loaded
    # now, while the first document is still on the network, not once it has arrived.
    warm = getattr(served, "warm", None)
    if callable(warm):
        warm()
    connection.send(READY)

    trimmed = True
    while True:
        # Work comes in bursts (a polling pass); once none is waiting, what the burst
        # freed goes back to the system, as the daemon does after each tick.
        if not trimmed and not connection.poll(IDLE_SECONDS):
            release_free_memory()
            trimmed = True
        try:
            work = connection.recv()
        except EOFError:
            return
        trimmed = False
        answer: Any
        try:
            answer = function(work)
        except ParseError as exc:
            answer = exc
        except MemoryError:
            answer = ParseError(f"{work.url}: the feed needs more than {memory_mb} MB to parse")
        except Exception as exc:  # a bug costs this document, with a message that says so
            problem = f"{type(exc).__name__}: {exc}"
            answer = ParseError(f"{work.url}: internal error ({problem}); please report it")
        connection.send(answer)


class Sandbox:
    def __init__(self, limits: ParseLimits, parser: str = PARSER) -> None:
        self.limits = limits
        self.parser = parser  # "module:function"; tests substitute misbehaving parsers
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._connection: Connection | None = None
        self._starting = False  # started, and its READY not read yet

    def parse(self, raw: RawDocument) -> ParsedDocument:
        answer = self.call(raw)
        assert isinstance(answer, ParsedDocument)
        return answer

    def start(self) -> None:
        """Start the worker process now, without waiting for it: work known to be coming
        need not wait for an interpreter's start-up (otherwise the first call starts it)."""
        with self._lock:
            if self._connection is None:
                self._start()

    def call(self, work: Work) -> Any:
        """The function's answer for ``work``; a :class:`ParseError` when there is none."""
        return answer_of(self.exchange(work))

    def exchange(self, work: Work) -> bytes:
        """The worker's pickled answer for ``work``, for :func:`answer_of`: the worker is
        free for other work again while the answer is unpickled."""
        with self._lock:
            if self._process is not None and self._process.poll() is not None:
                self._stop()  # died while idle (killed from outside): not this work's fault
            connection = self._connection or self._start()
            try:
                connection.send(work)  # read by the worker once it is ready
                if self._starting:
                    if not (connection.poll(START_TIMEOUT) and connection.recv() == READY):
                        self._stop()
                        raise ParseError(
                            f"{work.url}: the parser process did not start within "
                            f"{START_TIMEOUT:g} s; stopped"
                        )
                    self._starting = False
                if not connection.poll(self.limits.timeout):
                    self._stop()
                    raise ParseError(
                        f"{work.url}: parsing took longer than {self.limits.timeout:g} s; stopped"
                    )
                return connection.recv_bytes()
            except (EOFError, OSError, BrokenPipeError):
                self._stop()
                raise ParseError(
                    f"{work.url}: the parser process failed on this document "
                    "(out of memory, or killed)"
                ) from None

    def _start(self) -> Connection:
        # A new interpreter that imports only the worker's own module: not fork (the
        # daemon has threads, and a forked copy of them can deadlock), and not
        # multiprocessing's spawn, which first re-imports the parent's main module (the
        # whole command line: three times the start-up of a worker).
        ours, theirs = socket.socketpair()
        # Room for a whole answer in the worker's end: it goes on to its next document
        # instead of waiting for this process to read (the kernel may grant less).
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, ANSWER_BUFFER)
        with theirs:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aggregator.parse.worker_process",
                    str(theirs.fileno()),
                    str(self.limits.memory_mb),
                    self.parser,
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=_worker_environment(),
            )
        self._connection = Connection(ours.detach())
        self._starting = True
        return self._connection

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass  # unkillable for now (stopped in a debugger): the OS reaps it later
        if self._connection is not None:
            self._connection.close()
        self._process = None
        self._connection = None
        self._starting = False

    def close(self) -> None:
        with self._lock:
            self._stop()


def answer_of(message: bytes) -> Any:
    """A worker's answer from :meth:`Sandbox.exchange`; raises the ParseError it sent."""
    answer = ForkingPickler.loads(message)
    if isinstance(answer, ParseError):
        raise answer
    return answer


def _worker_environment() -> dict[str, str]:
    """Our environment, with this copy of the package first on the worker's path (it may
    run from a source tree that is not installed)."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    return env


_SANDBOXES: dict[ParseLimits, Sandbox] = {}
_GUARD = threading.Lock()


def sandbox(limits: ParseLimits) -> Sandbox:
    """The process-wide sandbox for ``limits`` (one worker per distinct limits)."""
    with _GUARD:
        if limits not in _SANDBOXES:
            _SANDBOXES[limits] = Sandbox(limits)
        return _SANDBOXES[limits]
