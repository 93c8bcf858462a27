"""Stage 5, cluster: group entries about the same event into stories, incrementally.

Each new entry, in published order, is compared with the entries already in stories and
the new entries before it that are within the time window; it joins the story of the best
match and starts a new story when there is none. Nothing is recomputed: an entry's story
never changes once assigned, and an entry's features (its :class:`Signature`) are computed
once and stored, so later passes compare without re-reading text.

Candidates come from two indexes, so no pass compares all pairs:

* LSH banding over the MinHash of word bigrams finds near-duplicates (syndicated and
  lightly edited copies): an estimated Jaccard similarity at or above ``duplicate`` joins.
  :mod:`aggregator.cluster.lsh` finds them for a whole batch at once.
* An inverted index over title words, names, numbers and dates finds paraphrases, also
  across Vietnamese and English (names are diacritic-folded, so "Hà Nội" meets "Hanoi"):
  they must share a full name, a number or a date, and join when their weighted overlap
  reaches ``threshold``. A key that more than ``MAX_POSTINGS`` entries of the window
  carry counts for nothing. Two entries in one language must share more than one name
  (a word of what happened, a number, a date, another name): the same person in two
  events of one day is two stories. Across languages titles share no words, and a name
  may be all a paraphrase shares.

Errs towards precision (two events wrongly merged hide news, two copies of one event are
merely noise): conflicting facts veto any merge, near-duplicate or not, with any member
of the story: titles giving different years or different numbers after the same word
("bão số 8" / "bão số 9"), or event days more than a day apart (two meetings of one
minister in one week; an undated report's day is its publication day).

Pure: entries and stored signatures in, a :class:`ClusterPlan` out; the store applies it.
:func:`plan_clusters` plans one batch; a :class:`Clusterer` keeps the placed entries of
the window in memory across the batches of a pass, and the daemon keeps one across its
passes (:mod:`aggregator.cluster.standing`).
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import math
import operator
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aggregator.cluster.lsh import BANDS, Bands
from aggregator.cluster.signature import (
    KINDS,
    NUM_PERM,
    VERSION,
    Signature,
    marked_numbers,
    pack,
    sign_many,
    unpack_many,
)
from aggregator.model import ClusterPlan, Entry, EntrySignature, NewStory

if TYPE_CHECKING:
    from aggregator.cluster.parallel import Signers, Signing

__all__ = [
    "BANDS",
    "DUPLICATE",
    "Clusterer",
    "collector_paused",
    "conflict",
    "estimated_jaccard",
    "plan_clusters",
]

DUPLICATE = 0.4
# What a shared member of each kind weighs (see signature.KINDS): a multi-word name or a
# date says more than one title word; years and marks only veto.
WEIGHTS = (1.0, 1.0, 2.0, 1.5, 1.5, 0.0, 0.0)
# The kinds (indexes into KINDS) that tie two texts to one event: a multi-word name, a
# number, a date. A paraphrase shares at least one; common words alone join nothing.
SPECIFIC = frozenset({2, 3, 4})
# A token shared by more in-window entries than this says nothing about one event.
MAX_POSTINGS = 64
# Members of a story a joining entry is checked against for conflicts (the newest ones).
MAX_MEMBERS = 50
# Entries out of the window kept in memory before they are dropped (or a quarter of all).
STALE = 5_000
# How far before the window of a batch (as a share of the window) the index keeps entries
# when it drops those out of the window. A daemon's batches do not come in published
# order: a feed polled later can bring entries older than the previous batch's oldest,
# whose window reaches further back. Dropped at once, the entries in that stretch were
# read from the store and placed again by the next such batch (``standing``), thousands
# at a time in the soak (bench/clustering_memory.py), and each time the long-lived
# objects made for them among that pass's short-lived ones pinned more of pymalloc's
# arenas: the clustering process's memory climbed in steps.
LATE = 0.5
# ...but never more than this. How late a batch comes is set by how far apart feeds are
# polled (hours), not by the window: with the 72 h default, half a window would hold a
# day and a half more of entries (half as much memory again) for nothing.
LATE_MAX = timedelta(hours=6)


def late_margin(window: timedelta) -> timedelta:
    """How far before a window the index keeps the entries it drops from lookups."""
    return min(window * LATE, LATE_MAX)


# Stored entries placed at a time (Clusterer.place): bounds what a rebuild holds at once.
PLACE_CHUNK = 512
# The parts of a batch planned one after the other while signing workers sign the later
# ones (see Clusterer._plan), as fractions of it; each part costs a copy of the window's
# sorted band keys (lsh.py), so they are few. Only for batches with this many to sign.
PARTS = (0.4, 0.3, 0.2, 0.1)
MIN_SIGNED_AHEAD = 4_096
DATE_SLACK = 1  # days: time zones and "late on Monday" reports filed on Tuesday


_YEARS, _MARKS = KINDS.index("years"), KINDS.index("marks")

# What conflict() compares: title years, title marks (numbers with the word before them,
# see signature._marks), event day. The index keeps one per entry for as long as the entry
# is in the window, so it is made of shared objects where it can be (see _facts).
_Facts = tuple[frozenset[int], frozenset[int], int]
_NO_FACTS: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Target:
    """A placed entry as the index keeps it: no text, only what lookups compare."""

    url: str
    time: float  # published, as POSIX seconds: compared on every lookup
    story: int | str  # a stored story id, or the key of a story this plan creates
    # Its set members as index keys (see _keys), those of a SPECIFIC kind first: a tuple,
    # a fifth of a frozenset's memory; only the entry being placed needs a set of them.
    keys: tuple[int, ...]
    specific: int  # how many of the keys, from the first, are of a SPECIFIC kind
    total: float  # the weight of all its keys, for normalizing overlaps
    facts: _Facts
    entry: int  # the store id: the entry's number in the index
    placed: int  # the pass that placed it (-1: already in a story when it came in)
    language: str = ""  # "vi", "en" (see _language)


# A part of a batch, and the signing of its unsigned entries begun by the workers.
_Part = tuple[Sequence[Entry], "Signing | None"]


@dataclass(slots=True)
class _Banded:
    """The entries of a batch that have words, for :class:`Bands`: their numbers, times
    and MinHashes, and their positions in the batch."""

    numbers: list[int]
    times: list[float]
    minhashes: npt.NDArray[np.uint32]
    positions: list[int]


def plan_clusters(
    new: Sequence[Entry],
    candidates: Sequence[Entry],
    *,
    threshold: float,
    window: timedelta,
    duplicate: float = DUPLICATE,
    signatures: Mapping[int, EntrySignature] | None = None,
) -> ClusterPlan:
    """Decide a story for every entry of ``new`` (which must have store ids).

    ``candidates`` are entries already in stories; those without a story are ignored.
    ``signatures`` are the stored ones by entry id; entries without a usable one are
    signed here, and those signatures come back in the plan for the store to keep.
    """
    clusterer = Clusterer(threshold=threshold, window=window, duplicate=duplicate)
    computed = clusterer.place(candidates, signatures or {})
    plan = clusterer.plan(new, signatures or {})
    return replace(plan, signatures={**computed, **plan.signatures}) if computed else plan


class Clusterer:
    """Placed entries in memory, and the plans for new ones, batch after batch.

    Pure, like :func:`plan_clusters`: the caller reads and writes the store. A pipeline
    pass places the stored candidates once, then plans each batch and, once the store
    has created a plan's new stories, :meth:`settle` s their ids, so the next batch joins
    them without anything being read or signed again. Entries that fall out of the window
    of the newest batch leave every lookup, and memory soon after.

    A clusterer can also outlive a pass (:class:`aggregator.cluster.standing.StandingClusterer`
    keeps one in the daemon): :meth:`begin_pass` then makes the entries placed so far
    count as stored ones, and its plans are the same as those of a clusterer made for
    the pass from the store.
    """

    def __init__(
        self, *, threshold: float, window: timedelta, duplicate: float = DUPLICATE
    ) -> None:
        self.threshold = threshold
        self.duplicate = duplicate
        self.index = _Index(window.total_seconds())
        self._pending: list[int | str] = []  # the last plan's new stories, until settled
        self._stand_ins = itertools.count(-1, -1)  # numbers for entries without an id
        # The next batch's parts, their signing begun by the last plan (see plan's ahead).
        self._ahead: tuple[Sequence[Entry], list[_Part]] | None = None
        self._signers: Signers | None = None

    @property
    def signers(self) -> Signers | None:
        """Worker processes that sign large batches beside this one (see
        cluster.parallel); None: this process signs everything."""
        return self._signers

    @signers.setter
    def signers(self, signers: Signers | None) -> None:
        # What the last plan started ahead was started on the workers being replaced:
        # not kept (a daemon's clusterer outlives its pass's workers).
        self._ahead = None
        self._signers = signers

    def begin_pass(self) -> None:
        """A new pass: what earlier ones planned now ranks as stored (see ``_Index.rank``)."""
        self.index.passes += 1

    def __contains__(self, entry_id: int) -> bool:
        return entry_id in self.index.targets

    def placed(self, since: float) -> dict[int, int | str]:
        """The story of each entry in memory published at or after ``since``."""
        return {n: t.story for n, t in self.index.targets.items() if t.time >= since}

    def _targets(
        self,
        entries: Sequence[Entry],
        stored: Mapping[int, EntrySignature],
        *,
        placed: int,
        signing: Signing | None = None,
    ) -> tuple[list[tuple[Entry, _Target]], _Banded, dict[int, EntrySignature]]:
        """Entries in published order with their targets, the numbers, times and MinHashes
        of those with words (for :class:`Bands`), and the signatures that had to be
        computed (packed for the store)."""
        ordered = sorted(entries, key=_published_order)
        known = _known(ordered, stored)
        unsigned = [e for e in ordered if e.id not in known]
        made: list[tuple[Signature, EntrySignature | None]]
        if self.signers is not None:  # with what ``signing`` started ahead (see _parts)
            made = self.signers.sign(unsigned, signing)
        else:
            assert signing is None, "only signers start signing ahead"
            made = [(signature, None) for signature in sign_many(unsigned)]
        fresh = dict(zip((e.id for e in unsigned), (sig for sig, _ in made), strict=True))
        # What a signing worker packed already goes to the store as it came.
        packed = {e.id: stored for e, (_, stored) in zip(unsigned, made, strict=True) if stored}
        known.update(fresh)
        signed = [known[e.id] for e in ordered]
        keys, specific, total = _index_keys(signed)
        targets = [
            (
                e,
                _Target(
                    e.url,
                    e.published.timestamp(),
                    e.story_id or "",
                    entry_keys,
                    entry_specific,
                    entry_total,
                    _facts(sig),
                    e.id if e.id is not None else next(self._stand_ins),
                    placed,
                    _language(e.language),
                ),
            )
            for e, sig, entry_keys, entry_specific, entry_total in zip(
                ordered, signed, keys, specific, total, strict=True
            )
        ]
        # An entry without words has the all-max MinHash every such entry shares: no bands.
        worded = [i for i, sig in enumerate(signed) if not sig.empty]
        banded = _Banded(
            [targets[i][1].entry for i in worded],
            [targets[i][1].time for i in worded],
            np.stack([signed[i].minhash for i in worded])
            if worded
            else np.empty((0, NUM_PERM), dtype=np.uint32),
            worded,
        )
        computed = {i: packed.get(i) or pack(sig) for i, sig in fresh.items() if i is not None}
        return targets, banded, computed

    def place(
        self, entries: Sequence[Entry], signatures: Mapping[int, EntrySignature]
    ) -> dict[int, EntrySignature]:
        """Add entries already in stories; returns the signatures it had to compute.
        Entries it holds already are left as they are."""
        fresh = sorted(
            (e for e in entries if e.story_id and e.id not in self.index.targets),
            key=_published_order,
        )
        computed: dict[int, EntrySignature] = {}
        with collector_paused():
            # A chunk at a time, in published order (the order one call adds them in): a
            # rebuild places the whole window, and its entries' rows and unpacked
            # signatures all at once were a peak of small objects that left pymalloc with
            # a dozen arenas more for good, the index's objects made amid it
            # (bench/clustering_memory.py --recycle).
            for start in range(0, len(fresh), PLACE_CHUNK):
                chunk = fresh[start : start + PLACE_CHUNK]
                targets, banded, made = self._targets(chunk, signatures, placed=-1)
                for _, target in targets:
                    self.index.add(target)
                self.index.bands.add(banded.numbers, banded.times, banded.minhashes)
                computed |= made
        return computed

    def plan(
        self,
        new: Sequence[Entry],
        signatures: Mapping[int, EntrySignature] | None = None,
        *,
        ahead: Sequence[Entry] = (),
        ahead_signatures: Mapping[int, EntrySignature] | None = None,
    ) -> ClusterPlan:
        """Decide a story for every entry of ``new`` (which must have store ids).

        ``ahead`` is the batch the caller plans next, with its stored signatures: the
        signing workers begin on it once this batch's chunks are handed out, so they go
        on signing while this process plans the batch's last part and the caller stores
        the plan (without it they wait at the end of every batch). The next call must then
        be given the same entry objects; given others, that signing is cancelled."""
        if not new:
            return ClusterPlan()
        with collector_paused():
            return self._plan(new, signatures or {}, ahead, ahead_signatures or {})

    def _plan(
        self,
        new: Sequence[Entry],
        signatures: Mapping[int, EntrySignature],
        ahead: Sequence[Entry],
        ahead_signatures: Mapping[int, EntrySignature],
    ) -> ClusterPlan:
        # Out of the window before the batch's targets are made, so that the memory the
        # entries dropped leave is there for the new ones to take (bench/soak.py).
        self.index.forget(min(e.published for e in new).timestamp() - self.index.window)
        joins: dict[int, list[int]] = {}
        groups: dict[str, list[Entry]] = {}
        computed: dict[int, EntrySignature] = {}
        # A large batch is planned in parts while the signing workers sign the later ones:
        # the workers take the parts' chunks in order from the start, this process signs
        # with them what is left of a part when its turn comes (about half of the first
        # one), and plans it; so it signs about a fifth of the batch, not half. The parts
        # shrink as the workers' lead does (signing an entry costs more than planning it).
        # The next batch's parts are started behind this one's: the workers' chunks come
        # in the order they were started in.
        parts = self._parts(new, signatures)
        if ahead:
            following = self._start_parts(ahead, ahead_signatures)
            if any(signing is not None for _, signing in following):
                self._ahead = (ahead, following)
        for part, signing in parts:
            computed |= self._plan_part(part, signatures, signing, joins, groups)
        self._pending = list(groups)
        return ClusterPlan(
            joins=joins,
            new_stories=[
                NewStory(title=members[0].title, entry_ids=tuple(e.id for e in members if e.id))
                for members in groups.values()
            ],
            signatures=computed,
        )

    def _parts(self, new: Sequence[Entry], signatures: Mapping[int, EntrySignature]) -> list[_Part]:
        """The parts of ``new`` (see :meth:`_start_parts`): those the last plan started
        when it was given ``new`` ahead, else started now."""
        started, self._ahead = self._ahead, None
        if started is not None:
            entries, parts = started
            if len(entries) == len(new) and all(map(operator.is_, entries, new)):
                return parts
            for _, signing in parts:
                if signing is not None and self.signers is not None:
                    self.signers.cancel(signing)
        return self._start_parts(new, signatures)

    def _start_parts(
        self, new: Sequence[Entry], signatures: Mapping[int, EntrySignature]
    ) -> list[_Part]:
        """The batch whole, or, when it has thousands of entries to sign and there are
        signing workers, in parts of ``PARTS`` of it in published order, each already
        started (see :meth:`_plan`)."""
        signers = self.signers
        unsigned = sum(1 for e in new if _unsigned(e, signatures))
        if signers is None or not signers.processes or unsigned < MIN_SIGNED_AHEAD:
            return [(new, None)]
        ordered = sorted(new, key=_published_order)
        ends = [round(len(ordered) * end) for end in itertools.accumulate(PARTS[:-1])]
        bounds = [0, *ends, len(ordered)]
        return [
            (part, signers.start([e for e in part if _unsigned(e, signatures)]))
            for part in map(
                ordered.__getitem__, itertools.starmap(slice, itertools.pairwise(bounds))
            )
            if part
        ]

    def _plan_part(
        self,
        new: Sequence[Entry],
        signatures: Mapping[int, EntrySignature],
        signing: Signing | None,
        joins: dict[int, list[int]],
        groups: dict[str, list[Entry]],
    ) -> dict[int, EntrySignature]:
        """Place the entries of ``new`` (the batch, or its next part), adding to
        ``joins`` and ``groups``; returns the signatures it computed."""
        targets, banded, computed = self._targets(
            new, signatures, placed=self.index.passes, signing=signing
        )
        # The near-duplicates of every entry, among those placed before it, found at once.
        near: list[list[int]] = [[] for _ in targets]
        found = self.index.bands.duplicates(
            banded.numbers,
            banded.times,
            banded.minhashes,
            window=self.index.window,
            duplicate=self.duplicate,
            add=True,  # then added: candidates of the next part or batch
        )
        for position, duplicates in zip(banded.positions, found, strict=True):
            near[position] = duplicates
        for (entry, target), duplicates in zip(targets, near, strict=True):
            assert entry.id is not None, "cluster entries after they are stored"
            best = self.index.best(target, duplicates, threshold=self.threshold)
            if isinstance(best, int):
                joins.setdefault(best, []).append(entry.id)
            elif isinstance(best, str):
                groups[best].append(entry)
            else:
                best = f"new-{entry.id}"
                groups[best] = [entry]
            target.story = best
            self.index.add(target)
        return computed

    def settle(self, story_ids: Sequence[int]) -> None:
        """The ids the store gave the last plan's new stories, in their order."""
        self.index.rename(dict(zip(self._pending, story_ids, strict=True)))
        self._pending = []


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: a batch allocates some hundred thousand
    containers (signatures, keys, index lists), none of them in a cycle, and the
    collections they trigger walk every tracked object of the process, the window's
    entries and the caller's included, again and again (a quarter of the clustering time
    at 60k generated entries). What does become garbage is freed by reference counting."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _published_order(entry: Entry) -> tuple[datetime, int]:
    return entry.published, entry.id or 0


def _unsigned(entry: Entry, stored: Mapping[int, EntrySignature]) -> bool:
    """Whether ``entry`` has no stored signature of this version (see _known)."""
    found = stored.get(entry.id) if entry.id is not None else None
    return found is None or found.version != VERSION


def _known(
    entries: Sequence[Entry], stored: Mapping[int, EntrySignature]
) -> dict[int | None, Signature]:
    found = [(e.id, stored[e.id]) for e in entries if e.id is not None and e.id in stored]
    read = unpack_many([packed for _, packed in found])
    return {
        i: signature for (i, _), signature in zip(found, read, strict=True) if signature is not None
    }


# Objects many entries share, each value once (see _facts and _index_keys): what the index
# keeps of an entry lives as long as the entry stays in the window, and every small object
# made for one amid a pass's short-lived ones pins a pymalloc pool
# (bench/clustering_memory.py). Both stay small: a weight total and an event day take few
# distinct values.
_TOTALS: dict[float, float] = {}
_PLAIN_FACTS: dict[int, _Facts] = {}


# The kind is part of a key, in its high bits: a number's hash must not meet a word's.
_KIND_BITS = [kind << 32 for kind in range(len(WEIGHTS))]
_WEIGHTED = [kind for kind, weight in enumerate(WEIGHTS) if weight]
# A target's keys: the members of the sets of the weighted kinds, the specific first.
_KEY_ORDER = [*sorted(SPECIFIC), *(k for k in _WEIGHTED if k not in SPECIFIC)]
_KEY_SETS = operator.itemgetter(*_KEY_ORDER)
_KEY_BITS = np.array([_KIND_BITS[k] for k in _KEY_ORDER], dtype=np.uint64)
_WEIGHTS = np.array(WEIGHTS)


def _index_keys(
    signed: Sequence[Signature],
) -> tuple[list[tuple[int, ...]], list[int], list[float]]:
    """For each signature: its index keys (the members of the sets of the weighted kinds,
    each with its kind in the high bits, those of a SPECIFIC kind first), how many of
    them are specific, and the weight of all its members (see WEIGHTS).

    For a batch at once, in numpy: made one by one in Python, the keys were a tenth of
    the clusterer's process (an int made by a Python call for every key)."""
    sizes = np.fromiter(
        itertools.chain.from_iterable(map(len, sig.sets) for sig in signed),
        dtype=np.int64,
        count=len(signed) * len(KINDS),
    ).reshape(len(signed), len(KINDS))
    members = np.fromiter(
        itertools.chain.from_iterable(
            itertools.chain.from_iterable(_KEY_SETS(sig.sets) for sig in signed)
        ),
        dtype=np.uint64,
    )
    keyed = sizes[:, _KEY_ORDER]
    kinds = np.repeat(np.tile(_KEY_BITS, len(signed)), keyed.ravel())
    every = iter((members | kinds).tolist())
    keys = [tuple(itertools.islice(every, n)) for n in keyed.sum(axis=1).tolist()]
    specific = sizes[:, sorted(SPECIFIC)].sum(axis=1).tolist()
    # Sums of halves: exact, in whatever order they are added.
    total = [_TOTALS.setdefault(t, t) for t in (sizes @ _WEIGHTS).tolist()]
    return keys, specific, total


def estimated_jaccard(a: Signature, b: Signature) -> float:
    """The share of MinHash positions that agree: an unbiased estimate of bigram Jaccard."""
    if a.empty or b.empty:
        return 0.0
    return _agreement(a.minhash, b.minhash)


def _agreement(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    return int(np.count_nonzero(a == b)) / NUM_PERM


def conflict(a: Signature, b: Signature) -> bool:
    """Facts that say two entries are different events, however similar their words."""
    return _conflicting(_facts(a), _facts(b))


def _facts(signature: Signature) -> _Facts:
    """The signature's facts, made of the signature's own sets (no new per-entry dict of
    sets), and for most entries (no year or mark in the title) one tuple per event day."""
    years, marks = signature.sets[_YEARS], signature.sets[_MARKS]
    if years or marks:
        return years or _NO_FACTS, marks or _NO_FACTS, signature.dated
    day = signature.dated
    found = _PLAIN_FACTS.get(day)
    if found is None:
        found = _PLAIN_FACTS[day] = (_NO_FACTS, _NO_FACTS, day)
    return found


_WORDS, _NAMES, _RUNS = KINDS.index("words"), KINDS.index("names"), KINDS.index("runs")
# A title word's key with this set is the key of the one-word name of the same folded
# word: the kind is a key's high bits, and title words are kind 0.
_AS_NAME = _NAMES << 32


def _one_name(shared: frozenset[int], common: Mapping[int, bool]) -> bool:
    """Whether the keys two texts share (``shared``; those ``common`` says count for
    nothing left out, see :meth:`_Index.best`) say one name and nothing more: at most one
    run of capitalised words, one-word names, and title words that are shared names again
    (a name too common to count still says what its title word is). No number, no date,
    no other title word.

    Within one language, that is not enough to call two texts one event: reports of one
    event share a word of what happened, not only who it happened to ("Pham Minh Chinh
    visits Japan" / "Pham Minh Chinh meets Kishida" the same day are two stories). Across
    languages titles share no words, and a name is what a paraphrase can share.
    """
    runs = 0
    for key in shared:
        if common[key]:
            continue
        kind = key >> 32
        if kind == _RUNS:
            runs += 1
            if runs > 1:
                return False
        elif kind == _WORDS:
            if key | _AS_NAME not in shared:
                return False  # a word of what happened
        elif kind != _NAMES:
            return False  # a number or a date
    return True


def _language(code: str) -> str:
    """An entry's language (normalize stores its primary subtag: "vi", "en"), interned:
    one string per language for all the targets that have it, and no table of its own
    that a feed declaring odd languages could fill."""
    return sys.intern(code)


def _conflicting(a: _Facts, b: _Facts) -> bool:
    (years_a, marks_a, day_a), (years_b, marks_b, day_b) = a, b
    if years_a and years_b and not years_a & years_b:
        return True
    if marks_a and marks_b:  # rare: grouped by word only for the pair that has them
        numbers_b = marked_numbers(marks_b)
        for word, numbers in marked_numbers(marks_a).items():
            if word in numbers_b and not numbers & numbers_b[word]:
                return True
    return abs(day_a - day_b) > DATE_SLACK


Lists = dict[int, list[int]]


def _time_of(targets: Mapping[int, _Target]) -> Callable[[int], float]:
    return lambda number: targets[number].time


class _Index:
    """Placed entries, reachable through LSH bands and through their specific keys.

    An entry's number is its store id. Every list of numbers (a band's, a key's) is kept
    in published order: entries mostly come in that order and are appended, a late one is
    inserted in its place. So a lookup walks a list backwards and stops at the first entry
    outside the window. Every key is listed (a list's length within the window is the
    key's frequency), but only the specific ones are walked to find candidates.

    Entries published before ``cut`` are out of every lookup; they stay in memory until
    they are a good share of it (:meth:`forget`), so a daemon's small passes do not each
    walk the whole index to drop a few.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.targets: dict[int, _Target] = {}
        self.bands = Bands()
        self.postings: Lists = {}
        # Each key of ``postings`` to itself: the one int object an entry's ``keys`` share
        # with every other entry of the window that has that key (see add()).
        self.shared: dict[int, int] = {}
        self.urls: dict[str, int | list[int]] = {}
        self.members: dict[int | str, list[int]] = {}
        self.cut = -math.inf
        self.newest = -math.inf  # the latest publication added: later ones append
        self.passes = 0  # see rank()

    def rank(self, number: int) -> tuple[bool, float, int]:
        """The order ties are broken in: entries placed before this pass first, each
        group by publication then id, the order a clusterer made for the pass alone
        would have added them in (stored candidates in published order, then the new)."""
        target = self.targets[number]
        return target.placed == self.passes, target.time, number

    def add(self, target: _Target) -> None:
        """Index ``target`` under its keys (its bands go to :attr:`bands` by the batch)."""
        number = target.entry
        targets = self.targets
        targets[number] = target
        # The keys as objects the index holds already. Most are title words, names and
        # numbers other entries of the window have too; one object per entry and key
        # made long-lived small objects a large share of the index, each pinning a
        # pymalloc arena that a pass's transient objects had filled (bench/soak.py).
        shared = self.shared
        target.keys = tuple(map(shared.setdefault, target.keys, target.keys))
        time = target.time
        postings = self.postings
        if time >= self.newest:  # the usual case: no list has a later entry
            self.newest = time
            for key in target.keys:
                posted = postings.get(key)
                if posted is None:
                    postings[key] = [number]
                else:
                    posted.append(number)
        else:
            for key in target.keys:
                posted = postings.get(key)
                if posted is None:
                    postings[key] = [number]
                else:
                    self._insert(posted, number, time)
        if target.url:
            same = self.urls.get(target.url)
            if same is None:
                self.urls[target.url] = number
            elif isinstance(same, int):
                self.urls[target.url] = [same, number]
            else:
                same.append(number)
        self.members.setdefault(target.story, []).append(number)

    def _insert(self, found: list[int], number: int, time: float) -> None:
        if self.targets[found[-1]].time <= time:
            found.append(number)  # the usual case: in published order
        else:
            bisect.insort(found, number, key=_time_of(self.targets))

    def forget(self, before: float) -> None:
        """Take the entries published before ``before`` out of every later lookup, and out
        of memory once they are a quarter of it (or more than a few thousand), all but
        those a later batch reaching :func:`late_margin` further back would need."""
        self.cut = before
        before -= late_margin(timedelta(seconds=self.window)).total_seconds()
        old = [n for n, t in self.targets.items() if t.time < before]
        if len(old) * 4 > len(self.targets) or len(old) > STALE:
            self._evict(old, before)

    def _evict(self, old: Sequence[int], before: float) -> None:
        # Only the lists the old entries are in: walking every list of the index would
        # cost time and, at a 72 h window, tens of MB of (key, list) pairs at its peak.
        targets = self.targets
        time = _time_of(targets)
        self.bands.forget(before)
        postings = self.postings
        # Each key once (title words and names are shared by many old entries).
        keys = set(itertools.chain.from_iterable(targets[n].keys for n in old))
        for key in keys:
            found = postings.get(key)
            if found is not None and targets[found[0]].time < before:
                # Published order: the old ones are a prefix.
                del found[: bisect.bisect_left(found, before, key=time)]
                if not found:
                    del postings[key]
        shared = self.shared
        for key in keys:
            if key not in postings:
                shared.pop(key, None)
        stories = {targets[n].story for n in old}
        urls = {targets[n].url for n in old if targets[n].url}
        for number in old:
            del targets[number]
        for story in stories:
            kept = [n for n in self.members[story] if n in targets]
            if kept:
                self.members[story] = kept
            else:
                del self.members[story]
        for url in urls:
            same = self.urls[url]
            left = [n for n in ((same,) if isinstance(same, int) else same) if n in targets]
            if not left:
                del self.urls[url]
            else:
                self.urls[url] = left[0] if len(left) == 1 else left

    def rename(self, stories: Mapping[int | str, int]) -> None:
        """Give planned stories the ids the store created them with."""
        for old, new in stories.items():
            numbers = self.members.pop(old, [])
            for number in numbers:
                self.targets[number].story = new
            self.members.setdefault(new, []).extend(numbers)

    def _live(self, numbers: Iterable[int]) -> list[int]:
        return [n for n in numbers if self.targets[n].time >= self.cut]

    def _common(self, key: int, oldest: float) -> bool:
        """Whether more than MAX_POSTINGS entries within the window have ``key``: like a
        zero inverse document frequency, such a key counts for nothing."""
        found = self.postings.get(key)
        if found is None or len(found) <= MAX_POSTINGS:
            return False
        return self.targets[found[-MAX_POSTINGS - 1]].time >= oldest

    def _fits(self, target: _Target, story: int | str) -> bool:
        """No member of ``story`` conflicts with ``target``: the story is one event, and a
        headline without a date must not bridge two dated events. A large story is
        checked against its newest MAX_MEMBERS members."""
        members = self._live(self.members[story])
        if len(members) > MAX_MEMBERS:
            members = sorted(members, key=self.rank)[-MAX_MEMBERS:]
        return not any(_conflicting(target.facts, self.targets[m].facts) for m in members)

    def _same_url(self, url: str) -> int | None:
        """The first placed entry of the window with this URL."""
        found = self.urls.get(url) if url else None
        if found is None:
            return None
        if isinstance(found, int):  # the usual case: one entry has it
            return found if self.targets[found].time >= self.cut else None
        live = self._live(found)
        return min(live, key=self.rank) if live else None

    def best(self, target: _Target, near: Sequence[int], *, threshold: float) -> int | str | None:
        """The story of the best comparable match, or None.

        ``near`` are the target's near-duplicates (see :meth:`Bands.duplicates`), which
        beat any paraphrase. A paraphrase shares a specific key that is not common, and
        scores the cosine of the two entries' keys weighted by kind (``WEIGHTS``), common
        shared keys left out; in one language it shares more than a name (``_one_name``).
        """
        same = self._same_url(target.url)
        if same is not None and self._within(self.targets[same], target):
            return self.targets[same].story  # one article syndicated by several feeds
        oldest = target.time - self.window
        scored = [(2.0, number) for number in near]
        targets = self.targets
        postings = self.postings
        common: dict[int, bool] = {}  # key -> whether it counts for nothing (see _common)
        related: set[int] = set()
        for key in target.keys[: target.specific]:
            posted = postings.get(key)
            if posted is None:
                common[key] = False
                continue
            if len(posted) > MAX_POSTINGS and targets[posted[-MAX_POSTINGS - 1]].time >= oldest:
                common[key] = True
                continue
            common[key] = False
            # Published order: the entries in the window are a suffix, mostly all of them.
            if targets[posted[0]].time >= oldest:
                related.update(posted)
            else:
                related.update(posted[bisect.bisect_left(posted, oldest, key=_time_of(targets)) :])
        related.difference_update(near)
        # A set of the target's keys only when there is someone to compare them with.
        keys = frozenset(target.keys) if related and target.total > 0 else frozenset()
        for number in related if keys else ():
            other = targets[number]
            if other.total <= 0:
                continue
            shared = 0.0
            both = keys.intersection(other.keys)
            for key in both:
                counted = common.get(key)
                if counted is None:
                    counted = common[key] = self._common(key, oldest)
                if not counted:
                    shared += WEIGHTS[key >> 32]
            score = shared / math.sqrt(target.total * other.total)
            if score < threshold:
                continue
            if target.language and target.language == other.language:
                if _one_name(both, common):
                    continue  # one language, and only a name in common: see _one_name
            scored.append((score, number))
        if len(scored) > 1:
            scored.sort(key=lambda s: (-s[0], self.rank(s[1])))
        tried: set[int | str] = set()
        for _, number in scored:
            other = targets[number]
            if not self._within(other, target) or _conflicting(target.facts, other.facts):
                continue
            if other.story not in tried and self._fits(target, other.story):
                return other.story
            tried.add(other.story)
        return None

    def _within(self, other: _Target, target: _Target) -> bool:
        return abs(target.time - other.time) <= self.window
