"""Signing on more than one core: a large batch's entries signed in worker processes
beside the calling one.

Signing (:func:`aggregator.cluster.signature.sign_many`: tokenizing, names, numbers,
dates, MinHash) is more than half of clustering's CPU and needs nothing but each entry's
text, so a backlog (``aggregator fetch`` and ``aggregator cluster`` on thousands of new
entries, the daemon after a restart) signs its batches in ``processes`` worker processes
and in the calling process at once: each takes the next chunk of entries until none is
left. A worker sends back packed signatures (:func:`~aggregator.cluster.signature.pack`),
which are what the store keeps, so the calling process only reads them (``unpack``).

The workers are :class:`~aggregator.parse.sandbox.Sandbox` es, like the parse workers
(:mod:`aggregator.workers`): their own interpreters, started on first use, bounded by
the ``[parse]`` limits; a chunk a worker fails on (timed out, killed) is signed in the
calling process instead. Small batches (the daemon's passes, a few feeds' new entries)
are signed in the calling process only: below ``MIN_ENTRIES`` the transfers would cost
more than they save. Signatures are the same wherever they are computed (pure functions
of the text; the memos only remember results).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from aggregator.cluster.signature import VERSION, Signature, sign_many, unpack
from aggregator.errors import ParseError
from aggregator.model import Entry, EntrySignature
from aggregator.parse.sandbox import ParseLimits, Sandbox

__all__ = ["CHUNK", "MIN_ENTRIES", "Signers", "close_shared", "shared", "sign_texts"]

SIGN = "aggregator.cluster.parallel:sign_texts"
# Entries per chunk: a worker's round trip (pickling the texts, reading the answer) is
# small next to signing 2,048 entries (about a tenth of a second), and a batch of
# 20,000 still leaves the processes enough chunks to finish close together.
CHUNK = 2048
MIN_ENTRIES = 2 * CHUNK

# What signing reads of an entry (see signature._features), and nothing more: an entry's
# content and the rest stay in the calling process.
_Text = tuple[str, str, datetime, str, str]


@dataclass(frozen=True, slots=True)
class Texts:
    """A chunk of entries' texts for a worker; ``url`` names it in errors (``Work``)."""

    texts: tuple[_Text, ...]
    url: str = "signing"


def _text(entry: Entry) -> _Text:
    return (entry.title, entry.summary, entry.published, entry.language, entry.feed_title)


def sign_texts(work: Texts) -> list[bytes]:
    """In a worker: the packed signatures (``EntrySignature.data``) of a chunk's texts."""
    from aggregator.cluster.signature import pack

    entries = [
        Entry(
            entry_key="",
            url="",
            title=title,
            summary=summary,
            published=published,
            language=language,
            feed_title=feed_title,
        )
        for title, summary, published, language, feed_title in work.texts
    ]
    return [pack(signature).data for signature in sign_many(entries)]


# A signature, and its packed form when a worker made it (the store keeps that one).
Signed = tuple[Signature, EntrySignature | None]


class Signers:
    """``processes`` signing workers (0: none, everything is signed by the caller)."""

    def __init__(self, processes: int, limits: ParseLimits | None = None) -> None:
        limits = limits or ParseLimits()
        self._boxes = [Sandbox(limits, parser=SIGN) for _ in range(max(0, processes))]
        self._threads = (
            ThreadPoolExecutor(len(self._boxes), thread_name_prefix="aggregator-sign")
            if self._boxes
            else None
        )

    @property
    def processes(self) -> int:
        return len(self._boxes)

    def sign(self, entries: Sequence[Entry]) -> list[Signed]:
        """The signatures of ``entries``, in their order."""
        if self._threads is None or len(entries) < MIN_ENTRIES:
            return [(signature, None) for signature in sign_many(entries)]
        chunks = [entries[start : start + CHUNK] for start in range(0, len(entries), CHUNK)]
        results: list[list[Signed] | None] = [None] * len(chunks)
        pending = _Pending(len(chunks))
        workers = [
            self._threads.submit(_remote, box, chunks, results, pending) for box in self._boxes
        ]
        for i in pending:
            results[i] = [(signature, None) for signature in sign_many(chunks[i])]
        for worker in workers:
            worker.result()
        signed: list[Signed] = []
        for i, chunk in enumerate(chunks):
            part = results[i]
            if part is None:  # its worker failed on it: signed here
                part = [(signature, None) for signature in sign_many(chunk)]
            signed.extend(part)
        return signed

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        for box in self._boxes:
            box.close()


class _Pending:
    """The numbers of the chunks not taken yet, handed out to whichever process asks."""

    def __init__(self, count: int) -> None:
        self._next = iter(range(count))
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        while True:
            with self._lock:
                i = next(self._next, None)
            if i is None:
                return
            yield i


def _remote(
    box: Sandbox,
    chunks: list[Sequence[Entry]],
    results: list[list[Signed] | None],
    pending: _Pending,
) -> None:
    for i in pending:
        try:
            packed = box.call(Texts(tuple(map(_text, chunks[i]))))
        except ParseError:
            return  # this chunk left None, the caller signs it; and the rest, as it takes them
        stored = [EntrySignature(version=VERSION, data=data) for data in packed]
        part: list[Signed] = []
        for signature in stored:
            read = unpack(signature)
            assert read is not None, "a worker signs with this process's version"
            part.append((read, signature))
        results[i] = part


_SHARED: dict[tuple[int, ParseLimits], Signers] = {}
_GUARD = threading.Lock()


def shared(processes: int, limits: ParseLimits) -> Signers:
    """The process-wide signers for these settings (each worker starts on first use)."""
    with _GUARD:
        key = (processes, limits)
        if key not in _SHARED:
            _SHARED[key] = Signers(processes, limits)
        return _SHARED[key]


def close_shared() -> None:
    """Stop every process-wide signing worker (a command that used them is done)."""
    with _GUARD:
        pools = list(_SHARED.values())
        _SHARED.clear()
    for pool in pools:
        pool.close()
