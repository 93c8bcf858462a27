"""Parse and normalize on every core: the CPU-bound stages in bounded worker processes.

Fetching waits on the network; parsing, cleaning and sanitizing a feed is pure CPU
work (about 0.1 to 0.5 ms per entry). In one process that work would hold the event
loop's interpreter, and a first pass over hundreds of new feeds would use one core.
So :func:`prepare` (parse -> normalize, pure) runs in worker processes, one per core
by default (``[parse] workers``), and only its result, the entries, comes back to be
stored. With ``workers = 1`` everything runs in the calling process, as it does on a
one-core machine.

Each worker is a :class:`~aggregator.parse.sandbox.Sandbox`: its own process and pipe,
under ``[parse] timeout`` and ``memory_mb`` for the whole document, killed and replaced
when it outlives them or dies. A worker that dies costs the document it was reading
and nothing else (no queue shared between workers for a dying one to wedge).
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime

from aggregator.errors import ParseError
from aggregator.model import Entry, ParsedDocument, RawDocument
from aggregator.parse.sandbox import ParseLimits, Sandbox, answer_of

PREPARE = "aggregator.workers:prepare"


@dataclass(frozen=True, slots=True)
class Job:
    """One fetched document and what its feed's settings say about reading it."""

    raw: RawDocument
    now: datetime
    feeds_only: bool = True
    # The fallback parser's own bound when this job runs in the calling process; in a
    # worker the whole job is bounded already.
    limits: ParseLimits | None = None
    max_entries: int = 200
    identity: str = "auto"
    # [fetch] max_body_bytes (the pipeline passes the configured one): a compressed body's
    # limit once inflated (parse.inflate). Its default, not imported: workers load no config.
    max_bytes: int = 10_000_000
    # [parse] iframe_hosts: the embeds the sanitizer keeps.
    iframe_hosts: frozenset[str] = frozenset()

    @property
    def url(self) -> str:
        return self.raw.url


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed and normalized document: the feed's own metadata, and its entries."""

    document: ParsedDocument  # without its parsed entries: ``entries`` replaces them
    entries: list[Entry]
    # The feed's title and site link, cleaned as an entry's are: cleaned here, so the
    # process that stores them needs no normalization module.
    title: str = ""
    site_url: str = ""


def prepare(job: Job) -> Prepared:
    """parse -> normalize for one document; pure, so it can run in any process."""
    # Here, not at the top: the main process of a pass whose workers do this work (or
    # where every feed answers 304) never loads lxml, nh3 and the noise rules.
    from aggregator import normalize, parse
    from aggregator.parse.inflate import inflate

    raw = inflate(job.raw, job.max_bytes)
    document = parse.parse_document(raw, feeds_only=job.feeds_only, limits=job.limits)
    entries = normalize.to_entries(
        document,
        feed_url=raw.url,
        now=job.now,
        max_entries=job.max_entries,
        identity=job.identity,
        iframe_hosts=job.iframe_hosts,
    )
    title, site_url = normalize.feed_metadata(document)
    return Prepared(
        document=replace(document, entries=()), entries=entries, title=title, site_url=site_url
    )


def warm() -> None:
    """Load what :func:`prepare` needs (a worker process calls this as it starts)."""
    from aggregator import normalize  # noqa: F401
    from aggregator.parse import fast, html, inflate, jsonfeed, text  # noqa: F401  (prepare's)


def default_processes() -> int:
    return max(1, os.cpu_count() or 1)


class Workers:
    """``processes`` bounded workers; ``processes == 1`` means none (work runs here)."""

    def __init__(self, processes: int = 0, limits: ParseLimits | None = None) -> None:
        self.processes = processes or default_processes()
        self.limits = limits or ParseLimits()
        self._idle: queue.SimpleQueue[Sandbox] = queue.SimpleQueue()
        self._boxes = [Sandbox(self.limits, parser=PREPARE) for _ in range(self.processes)]
        for box in self._boxes:  # each starts its process on first use
            self._idle.put(box)
        # Two waiting threads per worker: callers queue here, not in asyncio's own pool.
        # While one thread unpickles a worker's answer, another hands that worker its
        # next document.
        self._threads = ThreadPoolExecutor(
            2 * self.processes, thread_name_prefix="aggregator-prepare"
        )

    def _call(self, job: Job) -> Prepared:
        box = self._idle.get()
        try:
            message = box.exchange(replace(job, limits=None))  # the worker bounds the job
        finally:
            self._idle.put(box)  # another thread may hand it a document meanwhile
        answer = answer_of(message)
        assert isinstance(answer, Prepared)
        return answer

    def start(self) -> None:
        """Start every worker process now rather than at its first document."""
        if self.processes == 1:
            return  # the work runs in this process
        for box in self._boxes:
            box.start()

    async def run(self, job: Job) -> Prepared:
        """Prepare one document without blocking the event loop."""
        # Imported here: the worker processes import this module and never need asyncio.
        import asyncio

        if self.processes == 1:
            return await asyncio.to_thread(prepare, job)
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._call, job)

    def map(self, jobs: Iterable[Job]) -> Iterator[Prepared | ParseError]:
        """Prepare many documents in order, a few in flight per worker (memory stays flat).

        A document that cannot be read yields its :class:`ParseError` in its place.
        """
        if self.processes == 1:
            for job in jobs:
                yield _settle(job, prepare)
            return
        window: deque[Future[Prepared | ParseError]] = deque()
        for job in jobs:
            window.append(self._threads.submit(_settle, job, self._call))
            if len(window) >= 2 * self.processes:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        for box in self._boxes:
            box.close()


def _settle(job: Job, work: Callable[[Job], Prepared]) -> Prepared | ParseError:
    try:
        return work(job)
    except ParseError as exc:
        return exc


_SHARED: dict[tuple[int, ParseLimits], Workers] = {}
_GUARD = threading.Lock()


def shared(processes: int, limits: ParseLimits) -> Workers:
    """The process-wide workers for these settings (each process starts on first use)."""
    with _GUARD:
        key = (processes, limits)
        if key not in _SHARED:
            _SHARED[key] = Workers(processes, limits)
        return _SHARED[key]


def close_shared() -> None:
    """Stop every process-wide worker (a command that used them is done)."""
    with _GUARD:
        pools = list(_SHARED.values())
        _SHARED.clear()
    for pool in pools:
        pool.close()


def signing_processes(processes: int) -> int:
    """Signing workers for ``[parse] workers = processes``: one per core but the one the
    clusterer itself signs on (0 with ``workers = 1``: all in the calling process)."""
    return (processes or default_processes()) - 1
