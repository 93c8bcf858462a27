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
  they must share a full name, a number or a date, and join when their weighted overlap
  reaches ``threshold``. A key that more than ``MAX_POSTINGS`` entries of the window
  carry counts for nothing.

Errs towards precision (two events wrongly merged hide news, two copies of one event are
merely noise): conflicting facts veto any merge, near-duplicate or not, with any member
of the story: titles giving different years or different numbers after the same word
("bão số 8" / "bão số 9"), or event days more than a day apart (two meetings of one
minister in one week; an undated report's day is its publication day).

Pure: entries and stored signatures in, a :class:`ClusterPlan` out; the store applies it.
:func:`plan_clusters` plans one batch; a :class:`Clusterer` keeps the placed entries of
the window in memory across the batches of a pass.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import cast

import numpy as np
import numpy.typing as npt

from aggregator.cluster.signature import (
    NUM_PERM,
    Signature,
    marked_numbers,
    pack,
    sign_many,
    unpack,
)
from aggregator.model import ClusterPlan, Entry, EntrySignature, NewStory

__all__ = ["BANDS", "DUPLICATE", "Clusterer", "conflict", "estimated_jaccard", "plan_clusters"]

BANDS = 32  # of NUM_PERM // BANDS = 2 rows: a pair at Jaccard 0.4 is a candidate 99.5% of times
ROWS = NUM_PERM // BANDS
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
DATE_SLACK = 1  # days: time zones and "late on Monday" reports filed on Tuesday


# What conflict() compares: title years, title numbers by the word before them, event day.
_Facts = tuple[frozenset[int], dict[int, set[int]], int]


@dataclass(slots=True)
class _Target:
    """A placed entry as the index keeps it: no text, only what lookups compare."""

    url: str
    time: float  # published, as POSIX seconds: compared on every lookup
    story: int | str  # a stored story id, or the key of a story this plan creates
    minhash: npt.NDArray[np.uint32]
    keys: frozenset[int]  # its set members as index keys (see _keys)
    total: float  # the weight of all its keys, for normalizing overlaps
    facts: _Facts


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
    of the newest batch are dropped from memory.
    """

    def __init__(
        self, *, threshold: float, window: timedelta, duplicate: float = DUPLICATE
    ) -> None:
        self.threshold = threshold
        self.duplicate = duplicate
        self.index = _Index(window.total_seconds())
        self._pending: list[int | str] = []  # the last plan's new stories, until settled

    @staticmethod
    def _targets(
        entries: Sequence[Entry], stored: Mapping[int, EntrySignature]
    ) -> tuple[list[tuple[Entry, _Target, list[int]]], dict[int, EntrySignature]]:
        """Entries in published order with their targets and band keys, and the
        signatures that had to be computed (packed for the store)."""
        ordered = sorted(entries, key=lambda e: (e.published, e.id or 0))
        known = _known(ordered, stored)
        unsigned = [e for e in ordered if e.id not in known]
        fresh = dict(zip((e.id for e in unsigned), sign_many(unsigned), strict=True))
        known.update(fresh)
        signed = [known[e.id] for e in ordered]
        targets = [
            (
                e,
                _Target(
                    e.url,
                    e.published.timestamp(),
                    e.story_id or "",
                    sig.minhash,
                    _keys(sig),
                    _total(sig),
                    _facts(sig),
                ),
                bands,
            )
            for e, sig, bands in zip(ordered, signed, _band_keys(signed), strict=True)
        ]
        return targets, {i: pack(sig) for i, sig in fresh.items() if i is not None}

    def place(
        self, entries: Sequence[Entry], signatures: Mapping[int, EntrySignature]
    ) -> dict[int, EntrySignature]:
        """Add entries already in stories; returns the signatures it had to compute."""
        targets, computed = self._targets([e for e in entries if e.story_id], signatures)
        for _, target, bands in targets:
            self.index.add(target, bands)
        return computed

    def plan(
        self, new: Sequence[Entry], signatures: Mapping[int, EntrySignature] | None = None
    ) -> ClusterPlan:
        """Decide a story for every entry of ``new`` (which must have store ids)."""
        if not new:
            return ClusterPlan()
        targets, computed = self._targets(new, signatures or {})
        self.index.evict(targets[0][1].time - self.index.window)
        joins: dict[int, list[int]] = {}
        groups: dict[str, list[Entry]] = {}
        for entry, target, bands in targets:
            assert entry.id is not None, "cluster entries after they are stored"
            best = self.index.best(
                target, bands, threshold=self.threshold, duplicate=self.duplicate
            )
            if isinstance(best, int):
                joins.setdefault(best, []).append(entry.id)
            elif isinstance(best, str):
                groups[best].append(entry)
            else:
                best = f"new-{entry.id}"
                groups[best] = [entry]
            target.story = best
            self.index.add(target, bands)
        self._pending = list(groups)
        return ClusterPlan(
            joins=joins,
            new_stories=[
                NewStory(title=members[0].title, entry_ids=tuple(e.id for e in members if e.id))
                for members in groups.values()
            ],
            signatures=computed,
        )

    def settle(self, story_ids: Sequence[int]) -> None:
        """The ids the store gave the last plan's new stories, in their order."""
        self.index.rename(dict(zip(self._pending, story_ids, strict=True)))
        self._pending = []


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


# Odd 64-bit multipliers that mix a band's rows into one key (any fixed odd values do).
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)


def _band_keys(signatures: Sequence[Signature]) -> list[list[int]]:
    """Each signature's LSH band keys, computed for all at once; none for an empty one."""
    if not signatures:
        return []
    rows = np.stack([s.minhash for s in signatures]).astype(np.uint64)
    rows = rows.reshape(len(signatures), BANDS, ROWS) * _MIX[:ROWS]
    keys = np.bitwise_xor.reduce(rows, axis=2) + np.arange(BANDS, dtype=np.uint64)
    return [[] if s.empty else k for s, k in zip(signatures, keys.tolist(), strict=True)]


def _total(signature: Signature) -> float:
    return sum(w * len(members) for w, members in zip(WEIGHTS, signature.sets, strict=True))


def _keys(signature: Signature) -> frozenset[int]:
    # The kind is part of the key: a number's hash must not meet a word's.
    return frozenset(
        (kind << 32) | member
        for kind, (weight, members) in enumerate(zip(WEIGHTS, signature.sets, strict=True))
        if weight
        for member in members
    )


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
    return signature.kind("years"), marked_numbers(signature.kind("marks")), signature.dated


def _conflicting(a: _Facts, b: _Facts) -> bool:
    (years_a, marks_a, day_a), (years_b, marks_b, day_b) = a, b
    if years_a and years_b and not years_a & years_b:
        return True
    for word, numbers in marks_a.items():
        if word in marks_b and not numbers & marks_b[word]:
            return True
    return abs(day_a - day_b) > DATE_SLACK


Lists = dict[int, list[int]]


@dataclass(slots=True)
class _Section:
    """Entries added in published order, numbered from ``first`` on: each list in it is in
    time order too. Most band keys belong to one entry, so a band maps to that entry's
    number and only becomes a list when a second entry shares it (a third of the memory
    at 300,000 entries)."""

    first: int
    bands: dict[int, int | list[int]] = field(default_factory=dict)
    postings: Lists = field(default_factory=dict)
    newest: float = -math.inf


def _drop_before(lists: dict[int, int | list[int]], cut: int) -> None:
    """Remove the numbers below ``cut`` from every list (each sorted) of ``lists``."""
    for key, found in list(lists.items()):
        if isinstance(found, int):
            if found < cut:
                del lists[key]
        elif found[0] < cut:
            del found[: bisect.bisect_left(found, cut)]
            if not found:
                del lists[key]


class _Index:
    """Placed entries, reachable through LSH bands and through their specific keys.

    Entries go into the current section while they come in published order; an older one
    starts a new section (a late entry, or stored candidates before new ones), so a lookup
    walks each list backwards and stops at the first entry outside the window. Every key
    is listed (a list's length within the window is the key's frequency), but only the
    specific ones are walked to find candidates.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self.targets: dict[int, _Target] = {}
        self.sections: list[_Section] = []
        self.urls: dict[str, int] = {}
        self.members: dict[int | str, list[int]] = {}
        self.count = 0

    def add(self, target: _Target, bands: list[int]) -> None:
        number = self.count
        self.count += 1
        self.targets[number] = target
        if not self.sections or target.time < self.sections[-1].newest:
            self.sections.append(_Section(first=number))
        section = self.sections[-1]
        section.newest = target.time
        lists, postings = section.bands, section.postings
        for key in bands:
            found = lists.get(key)
            if found is None:
                lists[key] = number
            elif isinstance(found, int):
                lists[key] = [found, number]
            else:
                found.append(number)
        for key in target.keys:
            postings.setdefault(key, []).append(number)
        if target.url:
            self.urls.setdefault(target.url, number)
        self.members.setdefault(target.story, []).append(number)

    def evict(self, before: float) -> None:
        """Forget the entries published before ``before``: no later lookup reaches them."""
        old = [n for n, t in self.targets.items() if t.time < before]
        if not old:
            return
        for number in old:
            target = self.targets.pop(number)
            if target.url and self.urls.get(target.url) == number:
                del self.urls[target.url]
        kept: list[_Section] = []
        ends = [section.first for section in self.sections[1:]] + [self.count]
        for section, end in zip(self.sections, ends, strict=True):
            # Numbers are in time order within a section: the old ones are a prefix.
            numbers = range(section.first, end)
            cut = section.first + bisect.bisect_left(numbers, True, key=lambda n: n in self.targets)
            _drop_before(section.bands, cut)
            _drop_before(cast(dict[int, int | list[int]], section.postings), cut)
            if section.bands or section.postings:
                kept.append(section)
        self.sections = kept
        gone = set(old)
        for story in list(self.members):
            members = [n for n in self.members[story] if n not in gone]
            if members:
                self.members[story] = members
            else:
                del self.members[story]

    def rename(self, stories: Mapping[int | str, int]) -> None:
        """Give planned stories the ids the store created them with."""
        for old, new in stories.items():
            numbers = self.members.pop(old, [])
            for number in numbers:
                self.targets[number].story = new
            self.members.setdefault(new, []).extend(numbers)

    def _recent(self, lists: Lists, key: int, oldest: float) -> list[int]:
        found: list[int] = []
        for number in reversed(lists.get(key, ())):
            if self.targets[number].time < oldest:
                break
            found.append(number)
        return found

    def _common(self, key: int, oldest: float) -> bool:
        """Whether more than MAX_POSTINGS entries within the window have ``key``: like a
        zero inverse document frequency, such a key counts for nothing."""
        count = 0
        for section in self.sections:
            found = section.postings.get(key)
            if found is None:
                continue
            if len(found) > MAX_POSTINGS and self.targets[found[-MAX_POSTINGS - 1]].time >= oldest:
                return True
            count += len(self._recent(section.postings, key, oldest))
        return count > MAX_POSTINGS

    def _fits(self, target: _Target, story: int | str) -> bool:
        """No member of ``story`` conflicts with ``target``: the story is one event, and a
        headline without a date must not bridge two dated events."""
        members = self.members[story][-MAX_MEMBERS:]
        return not any(_conflicting(target.facts, self.targets[m].facts) for m in members)

    def best(
        self, target: _Target, bands: list[int], *, threshold: float, duplicate: float
    ) -> int | str | None:
        """The story of the best comparable match, or None.

        A near-duplicate (estimated Jaccard at least ``duplicate``) beats any paraphrase.
        A paraphrase shares a specific key that is not common, and scores the cosine of
        the two entries' keys weighted by kind (``WEIGHTS``), common shared keys left out.
        """
        same = self.urls.get(target.url) if target.url else None
        if same is not None and self._within(self.targets[same], target):
            return self.targets[same].story  # one article syndicated by several feeds
        oldest = target.time - self.window
        scored: list[tuple[float, int]] = []
        duplicates: set[int] = set()
        targets = self.targets
        for section in self.sections:
            lists = section.bands
            for key in bands:
                found = lists.get(key)
                if found is None:  # the usual case: looked up without a call
                    continue
                for number in (found,) if isinstance(found, int) else reversed(found):
                    other = targets[number]
                    if other.time < oldest:
                        break
                    if number in duplicates:
                        continue
                    if _agreement(target.minhash, other.minhash) >= duplicate:
                        scored.append((2.0, -number))
                        duplicates.add(number)
        common: dict[int, bool] = {}

        def counts(key: int) -> bool:
            if key not in common:
                common[key] = self._common(key, oldest)
            return not common[key]

        related: set[int] = set()
        for key in target.keys:
            if key >> 32 in SPECIFIC and counts(key):
                for section in self.sections:
                    related.update(self._recent(section.postings, key, oldest))
        for number in related - duplicates:
            other = self.targets[number]
            if other.total <= 0 or target.total <= 0:
                continue
            shared = sum(WEIGHTS[key >> 32] for key in target.keys & other.keys if counts(key))
            score = shared / math.sqrt(target.total * other.total)
            if score >= threshold:
                scored.append((score, -number))
        tried: set[int | str] = set()
        for _, negative in sorted(scored, reverse=True):
            other = self.targets[-negative]
            if not self._within(other, target) or _conflicting(target.facts, other.facts):
                continue
            if other.story not in tried and self._fits(target, other.story):
                return other.story
            tried.add(other.story)
        return None

    def _within(self, other: _Target, target: _Target) -> bool:
        return abs(target.time - other.time) <= self.window
