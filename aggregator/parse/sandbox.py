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
import multiprocessing
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, RawDocument


@dataclass(frozen=True, slots=True)
class ParseLimits:
    timeout: float = 10.0
    memory_mb: int = 1024


PARSER = "aggregator.parse.feed:parse_xml_feed"


class Work(Protocol):
    """What a worker is handed: a document, or a job about one. Errors name its URL."""

    @property
    def url(self) -> str: ...


def _serve(connection: Connection, memory_mb: int, parser: str) -> None:
    """The worker: run the function on what arrives, answer with its result or an error."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass  # no RLIMIT_AS on this platform: the time bound still holds
    # Ctrl-C reaches the whole process group; the parent decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    module, _, name = parser.partition(":")
    function = getattr(importlib.import_module(module), name)

    while True:
        try:
            work = connection.recv()
        except EOFError:
            return
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
        self._process: Any = None
        self._connection: Connection | None = None

    def parse(self, raw: RawDocument) -> ParsedDocument:
        answer = self.call(raw)
        assert isinstance(answer, ParsedDocument)
        return answer

    def call(self, work: Work) -> Any:
        """The function's answer for ``work``; a :class:`ParseError` when there is none."""
        with self._lock:
            if self._process is not None and not self._process.is_alive():
                self._stop()  # died while idle (killed from outside): not this work's fault
            connection = self._connection or self._start()
            try:
                connection.send(work)
                if not connection.poll(self.limits.timeout):
                    self._stop()
                    raise ParseError(
                        f"{work.url}: parsing took longer than {self.limits.timeout:g} s; stopped"
                    )
                answer = connection.recv()
            except (EOFError, OSError, BrokenPipeError):
                self._stop()
                raise ParseError(
                    f"{work.url}: the parser process failed on this document "
                    "(out of memory, or killed)"
                ) from None
        if isinstance(answer, ParseError):
            raise answer
        return answer

    def _start(self) -> Connection:
        # spawn, not fork: the daemon has threads, and a forked copy of them can deadlock.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(theirs, self.limits.memory_mb, self.parser),
            daemon=True,
            name="aggregator-parser",
        )
        self._process.start()
        theirs.close()
        self._connection = ours
        return ours

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._connection is not None:
            self._connection.close()
        self._process = None
        self._connection = None

    def close(self) -> None:
        with self._lock:
            self._stop()


_SANDBOXES: dict[ParseLimits, Sandbox] = {}
_GUARD = threading.Lock()


def sandbox(limits: ParseLimits) -> Sandbox:
    """The process-wide sandbox for ``limits`` (one worker per distinct limits)."""
    with _GUARD:
        if limits not in _SANDBOXES:
            _SANDBOXES[limits] = Sandbox(limits)
        return _SANDBOXES[limits]
