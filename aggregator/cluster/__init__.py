"""Stage 5, cluster: group entries about the same event into stories, incrementally.

Each new entry, in published order, is compared with the entries already in stories and
the new entries before it that are within the time window; it joins the story of the best
match and starts a new story when there is none. Nothing is recomputed: an entry's story
never changes once assigned, and an entry's features (its :class:`Signature`) are computed
once and stored, so later passes compare without re-reading text.

Candidates come from two indexes, so no pass compares all pairs:

* LSH banding over the MinHash of word bigrams finds near-duplicates (syndicated and
  lightly edited copies): an estimated Jaccard similarity at or above ``duplicate`` joins.
* An inverted index over title words, names, numbers and dates finds paraphrases, also
  across Vietnamese and English (names are diacritic-folded, so "Hà Nội" meets "Hanoi"):
  they join when their weighted overlap reaches ``threshold``.

Errs towards precision (two events wrongly merged hide news, two copies of one event are
merely noise): conflicting facts veto any merge, near-duplicate or not: titles giving
different years or disjoint numbers ("bão số 8" / "bão số 9"), or texts whose first
dates are more than a day apart (two meetings of one minister in one week).

Pure: entries and stored signatures in, a :class:`ClusterPlan` out; the store applies it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from aggregator.cluster.signature import (
    NUM_PERM,
    Signature,
    marked_numbers,
    pack,
    sign_many,
    unpack,
)
from aggregator.model import ClusterPlan, Entry, EntrySignature, NewStory

__all__ = ["BANDS", "DUPLICATE", "conflict", "estimated_jaccard", "plan_clusters"]

BANDS = 16  # of NUM_PERM // BANDS rows: a pair at Jaccard 0.5 is a candidate 64% of times
ROWS = NUM_PERM // BANDS
DUPLICATE = 0.5
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
DATE_SLACK = 1  # days: time zones and "late on Monday" reports filed on Tuesday


@dataclass(slots=True)
class _Target:
    entry: Entry
    signature: Signature
    story: int | str  # a stored story id, or the key of a story this plan creates
    keys: list[int]  # its set members as index keys (see _Index.keys)
    total: float = 0.0  # the weight of its keys when it was placed, for normalizing overlaps


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

    ``signatures`` are the stored ones by entry id; entries without a usable one are
    signed here, and those signatures come back in the plan for the store to keep.
    """
    if not new:
        return ClusterPlan()
    placed = [c for c in candidates if c.story_id]
    known = _known(placed + list(new), signatures or {})
    unsigned = [e for e in (*placed, *new) if e.id not in known]
    fresh = dict(zip((e.id for e in unsigned), sign_many(unsigned), strict=True))
    known.update(fresh)
    index = _Index(window)
    for candidate in sorted(placed, key=lambda e: (e.published, e.id or 0)):
        assert candidate.story_id is not None
        index.add(_target(candidate, known[candidate.id], candidate.story_id))
    index.seal()
    joins: dict[int, list[int]] = {}
    groups: dict[str, list[Entry]] = {}
    for entry in sorted(new, key=lambda e: (e.published, e.id or 0)):
        assert entry.id is not None, "cluster entries after they are stored"
        target = _target(entry, known[entry.id], "")
        best = index.best(target, threshold=threshold, duplicate=duplicate)
        if isinstance(best, int):
            joins.setdefault(best, []).append(entry.id)
        elif isinstance(best, str):
            groups[best].append(entry)
        else:
            best = f"new-{entry.id}"
            groups[best] = [entry]
        target.story = best
        index.add(target)
    return ClusterPlan(
        joins=joins,
        new_stories=[
            NewStory(title=members[0].title, entry_ids=tuple(e.id for e in members if e.id))
            for members in groups.values()
        ],
        signatures={i: pack(s) for i, s in fresh.items() if i is not None},
    )


def _known(
    entries: Sequence[Entry], stored: Mapping[int, EntrySignature]
) -> dict[int | None, Signature]:
    known: dict[int | None, Signature] = {}
    for entry in entries:
        packed = stored.get(entry.id) if entry.id is not None else None
        signature = unpack(packed) if packed is not None else None
        if signature is not None:
            known[entry.id] = signature
    return known


def _target(entry: Entry, signature: Signature, story: int | str) -> _Target:
    return _Target(entry, signature, story, _Index.keys(signature))


def estimated_jaccard(a: Signature, b: Signature) -> float:
    """The share of MinHash positions that agree: an unbiased estimate of bigram Jaccard."""
    if a.empty or b.empty:
        return 0.0
    return int(np.count_nonzero(a.minhash == b.minhash)) / NUM_PERM


def conflict(a: Signature, b: Signature) -> bool:
    """Facts that say two entries are different events, however similar their words."""
    years_a, years_b = a.kind("years"), b.kind("years")
    if years_a and years_b and not years_a & years_b:
        return True
    marks_b = marked_numbers(b.kind("marks"))
    for word, numbers in marked_numbers(a.kind("marks")).items():
        if word in marks_b and not numbers & marks_b[word]:
            return True
    return bool(a.dated and b.dated and abs(a.dated - b.dated) > DATE_SLACK)


class _Index:
    """Placed entries, reachable through LSH bands and through their set members.

    Within a section entries are added in published order, so each list is in time order
    and a lookup walks it backwards until it leaves the window. The stored candidates are
    one section and the new entries another: a late new entry may be older than a stored
    one.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self.targets: list[_Target] = []
        self.times: list[float] = []  # published, as POSIX seconds: compared on every lookup
        self.sections: list[tuple[dict[int, list[int]], dict[int, list[int]]]] = []
        self.urls: dict[str, int] = {}
        self.members: dict[int | str, list[int]] = {}
        self.seal()

    def seal(self) -> None:
        """Start a new section: what is added next may be older than what was added."""
        self.sections.append(({}, {}))

    def add(self, target: _Target) -> None:
        number = len(self.targets)
        self.targets.append(target)
        self.times.append(target.entry.published.timestamp())
        bands, postings = self.sections[-1]
        for key in self._band_keys(target.signature):
            bands.setdefault(key, []).append(number)
        target.total = sum(self._weight(key) for key in target.keys)
        for key in target.keys:
            postings.setdefault(key, []).append(number)
        if target.entry.url:
            self.urls.setdefault(target.entry.url, number)
        self.members.setdefault(target.story, []).append(number)

    @staticmethod
    def _weight(key: int) -> float:
        return WEIGHTS[key >> 32]

    def _fits(self, target: _Target, story: int | str) -> bool:
        """No member of ``story`` conflicts with ``target``: the story is one event, and a
        headline without a date must not bridge two dated events."""
        members = self.members[story][-MAX_MEMBERS:]
        return not any(conflict(target.signature, self.targets[m].signature) for m in members)

    @staticmethod
    def _band_keys(signature: Signature) -> list[int]:
        if signature.empty:
            return []
        rows = signature.minhash.reshape(BANDS, ROWS).tolist()
        return [hash((band, *row)) for band, row in enumerate(rows)]

    @staticmethod
    def keys(signature: Signature) -> list[int]:
        # The kind is part of the key: a number's hash must not meet a word's.
        return [
            (kind << 32) | member
            for kind, (weight, members) in enumerate(zip(WEIGHTS, signature.sets, strict=True))
            if weight
            for member in members
        ]

    def _recent(self, numbers: list[int], oldest: float, limit: int | None) -> list[int]:
        """The entries of a time-ordered list published since ``oldest``, newest first;
        none when more than ``limit`` are (a key that common tells no event apart)."""
        times = self.times
        if limit is not None and len(numbers) > limit and times[numbers[-limit - 1]] >= oldest:
            return []
        found: list[int] = []
        for number in reversed(numbers):
            if times[number] < oldest:
                break
            found.append(number)
        return found

    def _lookup(self, target: _Target) -> tuple[set[int], dict[int, float], set[int]]:
        """Near-duplicate candidates, paraphrase candidates with the weight they share, and
        those of them that share a specific key (see ``SPECIFIC``)."""
        near: set[int] = set()
        shared: dict[int, float] = {}
        specific: set[int] = set()
        weights = {key: self._weight(key) for key in target.keys}
        target.total = sum(weights.values())
        oldest = target.entry.published.timestamp() - self.window.total_seconds()
        band_keys = self._band_keys(target.signature)
        for bands, postings in self.sections:
            for key in band_keys:
                if key in bands:
                    near.update(self._recent(bands[key], oldest, None))
            for key in target.keys:
                if key in postings:
                    weight = weights[key]
                    found = self._recent(postings[key], oldest, MAX_POSTINGS)
                    for number in found:
                        shared[number] = shared.get(number, 0.0) + weight
                    if key >> 32 in SPECIFIC:
                        specific.update(found)
        return near, shared, specific

    def best(self, target: _Target, *, threshold: float, duplicate: float) -> int | str | None:
        """The story of the best comparable match, or None.

        The paraphrase score is the cosine of the two entries' keys weighted by kind
        (``WEIGHTS``), summed through the postings; a key too common to count
        (``MAX_POSTINGS``) adds nothing to the overlap, as a zero inverse document
        frequency would.
        """
        entry = target.entry
        same = self.urls.get(entry.url) if entry.url else None
        if same is not None and self._within(self.targets[same], target):
            return self.targets[same].story  # one article syndicated by several feeds
        near, shared, specific = self._lookup(target)
        scored: list[tuple[float, int]] = []
        for number in near:
            other = self.targets[number]
            if estimated_jaccard(target.signature, other.signature) >= duplicate:
                scored.append((2.0, -number))  # a near-duplicate beats any paraphrase
        for number in specific:
            weight = shared[number]
            other = self.targets[number]
            if other.total > 0 and target.total > 0:
                score = weight / math.sqrt(target.total * other.total)
                if score >= threshold:
                    scored.append((score, -number))
        tried: set[int | str] = set()
        for _, negative in sorted(scored, reverse=True):
            other = self.targets[-negative]
            if not self._within(other, target) or conflict(target.signature, other.signature):
                continue
            if other.story not in tried and self._fits(target, other.story):
                return other.story
            tried.add(other.story)
        return None

    def _within(self, other: _Target, target: _Target) -> bool:
        return abs(target.entry.published - other.entry.published) <= self.window
