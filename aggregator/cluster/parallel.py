"""Signing on more than one core: a large batch's entries signed in worker processes
beside the calling one.

Signing (:func:`aggregator.cluster.signature.sign_many`: tokenizing, names, numbers,
dates, MinHash) is more than half of clustering's CPU and needs nothing but each entry's
text, so a backlog (``aggregator fetch`` and ``aggregator cluster`` on thousands of new
entries, the daemon after a restart) is signed in ``processes`` worker processes as well
as in the calling one: a :class:`Signing` hands its chunks of ``CHUNK`` entries to
whichever process asks first. The clusterer starts the signing of a large batch's later
parts before it plans the first one (``Clusterer._plan``), so the workers sign ahead
while it plans, and it signs only what they have not reached. A worker sends back packed
signatures (:func:`~aggregator.cluster.signature.pack`), which are what the store keeps,
so the calling process only reads them (``unpack_many``).

The workers are :class:`~aggregator.parse.sandbox.Sandbox` es, like the parse workers
(:mod:`aggregator.workers`): their own interpreters, started on first use and stopped at
the end of the clustering pass (``pipeline.cluster_new_entries``), bounded by the
``[parse]`` limits; a chunk a worker fails on (timed out, killed) is signed in the
calling process instead. Small batches (the daemon's usual passes, a few feeds' new
entries) are signed in the calling process only: below ``MIN_ENTRIES`` the start-up and
the transfers would cost more than they save. Signatures are the same wherever they are
computed (pure functions of the text; the memos only remember results).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import NamedTuple

from aggregator.cluster.signature import VERSION, Signature, sign_many, unpack_many
from aggregator.errors import ParseError
from aggregator.model import Entry, EntrySignature
from aggregator.parse.sandbox import ParseLimits, Sandbox

__all__ = ["CHUNK", "MIN_ENTRIES", "Signers", "Signing", "sign_texts"]

log = logging.getLogger(__name__)

SIGN = "aggregator.cluster.parallel:sign_texts"
# Entries per chunk: a worker's round trip (pickling the texts, reading the answer) is
# small next to signing 512 entries (a few hundredths of a second), and a part of a batch
# still has enough chunks for the processes to finish close together.
CHUNK = 512
MIN_ENTRIES = 4096


class Text(NamedTuple):
    """What signing reads of an entry (``signature.Signable``), and nothing more: an
    entry's content and the rest stay in the calling process."""

    title: str
    summary: str
    published: datetime
    language: str
    feed_title: str


@dataclass(frozen=True, slots=True)
class Texts:
    """A chunk of entries' texts for a worker; ``url`` names it in errors (``Work``).

    Each is Text's fields, pickled lean: the publication as the ordinal of its day, the
    one thing of it signing reads (``published.date()``); a datetime costs the calling
    process twice the pickling time of the whole text."""

    texts: tuple[tuple[str, str, int, str, str], ...]
    url: str = "signing"


def _text(entry: Entry) -> tuple[str, str, int, str, str]:
    day = entry.published.date().toordinal()
    return (entry.title, entry.summary, day, entry.language, entry.feed_title)


def _texts(work: Texts) -> list[Text]:
    """A chunk's texts as signing reads them, each day made a datetime (midnight UTC)."""
    days: dict[int, datetime] = {}
    texts: list[Text] = []
    for title, summary, day, language, feed_title in work.texts:
        published = days.get(day)
        if published is None:
            published = days[day] = datetime.combine(date.fromordinal(day), time(), UTC)
        texts.append(Text(title, summary, published, language, feed_title))
    return texts


def sign_texts(work: Texts) -> list[bytes]:
    """In a worker: the packed signatures (``EntrySignature.data``) of a chunk's texts.

    Without cyclic garbage collection, as the clusterer signs (``cluster.collector_paused``):
    signing makes no cycles, and the collections its many small containers trigger walk
    the memos again and again (about a tenth more CPU a chunk, measured)."""
    from aggregator.cluster.signature import pack

    texts = _texts(work)
    if not gc.isenabled():
        return [pack(signature).data for signature in sign_many(texts)]
    gc.disable()
    try:
        return [pack(signature).data for signature in sign_many(texts)]
    finally:
        gc.enable()


# A signature, and its packed form when a worker made it (the store keeps that one).
Signed = tuple[Signature, EntrySignature | None]


class Signers:
    """``processes`` signing workers (0: none, everything is signed by the caller)."""

    def __init__(self, processes: int, limits: ParseLimits | None = None) -> None:
        limits = limits or ParseLimits()
        self._boxes = [Sandbox(limits, parser=SIGN) for _ in range(max(0, processes))]
        self._started: list[Signing] = []  # not finished yet
        self._failed: set[Sandbox] = set()  # workers not to be asked again
        self._threads = (
            ThreadPoolExecutor(len(self._boxes), thread_name_prefix="aggregator-sign")
            if self._boxes
            else None
        )

    @property
    def processes(self) -> int:
        return len(self._boxes)

    def sign(self, entries: Sequence[Entry], started: Signing | None = None) -> list[Signed]:
        """The signatures of ``entries``, in their order. With ``started`` (the signing of
        these entries or some of them, begun ahead by :meth:`start`): those as
        :meth:`finish` gives them, any other signed in this process. Without it, a large
        list is signed by the workers and this process at once, a small one here."""
        if started is not None:
            ahead = dict(zip(map(id, started.entries), self.finish(started), strict=True))
            rest = iter(sign_many([e for e in entries if id(e) not in ahead]))
            return [ahead.get(id(e)) or (next(rest), None) for e in entries]
        if self._threads is None or len(entries) < MIN_ENTRIES:
            return [(signature, None) for signature in sign_many(entries)]
        return self.finish(self.start(entries))

    def start(self, entries: Sequence[Entry]) -> Signing:
        """Have the workers begin on ``entries`` (this process joins in at :meth:`finish`):
        the next part of a batch, signed while this process plans the current one."""
        signing = Signing(entries)
        self._started.append(signing)
        if self._threads is not None:
            for box in self._boxes:
                # One thread per worker: a later start's chunks wait for this one's.
                signing.workers.append(self._threads.submit(self._remote, box, signing))
        return signing

    def cancel(self, signing: Signing) -> None:
        """Hand out no more of a started list's chunks (a plan given other entries than
        the ones started ahead for it): those a worker has taken are signed for nothing."""
        signing.cancel()
        self._started.remove(signing)

    def finish(self, signing: Signing) -> list[Signed]:
        """The signatures of a started list, in its order: this process signs the chunks
        no worker has taken, then waits for those they have."""
        for i in signing.pending:
            signing.results[i] = [(signature, None) for signature in sign_many(signing.chunks[i])]
        for worker in signing.workers:
            worker.result()
        self._started.remove(signing)
        signed: list[Signed] = []
        for chunk, part, packed in zip(
            signing.chunks, signing.results, signing.packed, strict=True
        ):
            if part is None:
                if packed is not None:
                    part = _read(packed)
                else:  # its worker failed on it: signed here
                    part = [(signature, None) for signature in sign_many(chunk)]
            signed.extend(part)
        return signed

    def peak_mb(self) -> float:
        """The largest peak resident memory (VmHWM) of the workers running now (Linux)."""
        peak = 0.0
        for box in self._boxes:
            process = box._process
            if process is None or process.poll() is not None:
                continue
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        return peak

    def _remote(self, box: Sandbox, signing: Signing) -> None:
        """In a thread of this process: hand ``box`` chunk after chunk until none is left.
        A worker that fails once (timed out, killed, cannot start) takes no more for the
        rest of the pass: its chunks are signed here, without a new process for each."""
        if box in self._failed:
            return
        for i in signing.pending:
            try:
                signing.packed[i] = box.call(Texts(tuple(map(_text, signing.chunks[i]))))
            except ParseError as error:
                log.warning("Signing worker failed; signing in this process instead: %s", error)
                self._failed.add(box)
                return  # this chunk left None, the caller signs it; and the rest

    def close(self) -> None:
        """Stop the workers; what was started and not finished is given up (a plan
        that failed half-way: its parts' chunks are not signed for nothing meanwhile)."""
        for signing in self._started:
            signing.cancel()
        self._started.clear()
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        for box in self._boxes:
            box.close()


class Signing:
    """Entries being signed: their chunks, handed out to whichever process asks first."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = entries
        self.chunks = [entries[start : start + CHUNK] for start in range(0, len(entries), CHUNK)]
        self.results: list[list[Signed] | None] = [None] * len(self.chunks)
        self.packed: list[list[bytes] | None] = [None] * len(self.chunks)  # from workers
        self.workers: list[Future[None]] = []
        self._next = iter(range(len(self.chunks)))
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Hand out no more chunks."""
        with self._lock:
            self._next = iter(())

    @property
    def pending(self) -> Iterator[int]:
        """The numbers of the chunks nobody has taken yet, each to one taker."""
        while True:
            with self._lock:
                i = next(self._next, None)
            if i is None:
                return
            yield i


def _read(packed: list[bytes]) -> list[Signed]:
    """A worker's answer as signatures (read here, by the caller: the thread that waits
    on the worker only hands it its next chunk, so that the worker never waits long)."""
    stored = [EntrySignature(version=VERSION, data=data) for data in packed]
    part: list[Signed] = []
    for read, entry in zip(unpack_many(stored), stored, strict=True):
        assert read is not None, "a worker signs with this process's version"
        part.append((read, entry))
    return part
