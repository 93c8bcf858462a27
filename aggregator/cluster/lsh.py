"""Near-duplicate candidates by LSH banding, found for a whole batch at once in numpy.

Role in stage 5 (cluster): the index of :mod:`aggregator.cluster` keeps the band keys and
MinHashes of its placed entries here, as arrays, and asks once per batch which entries
each new one is a near-duplicate of: those placed before it (the placed ones, then the
batch's earlier ones) that share a band key with it, fall within the window before it and
agree on at least ``duplicate`` of their MinHash positions.

Why arrays and not a dict from band key to entries: the dict cost 32 lookups and 32
insertions in Python per entry, walking lists whose entries mostly were compared already
(near-duplicates share many bands), one numpy call per comparison, and a million dict items
for a 72 h window. The placed entries' keys are kept sorted (each with its row), so a batch
finds the placed rows sharing its keys by binary search, and the pairs within the batch by
sorting its own keys; the answer, entry by entry, is the one the dict gave. Keeping the
keys sorted costs a merge per batch added (a copy of the window's keys); sorting the
window's keys again for every batch cost more, four times a large batch when it is
planned in parts (about a sixth of the clusterer's process with a signing worker).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aggregator.cluster.signature import NUM_PERM

__all__ = ["BANDS", "Bands", "band_keys"]

BANDS = 32  # of NUM_PERM // BANDS = 2 rows: a pair at Jaccard 0.4 is a candidate 99.5% of times
ROWS = NUM_PERM // BANDS

# Odd 64-bit multipliers that mix a band's rows into one key (any fixed odd values do).
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93],
    dtype=np.uint64,
)

# Candidate pairs (with those repeated for each band two entries share) made at a time: a
# key that many entries of the window share (the same text posted again and again) makes
# pairs in the square of their number, which must not all be in memory at once.
MAX_PAIRS = 1 << 22

Int64s = npt.NDArray[np.int64]
Int32s = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]
Keys = npt.NDArray[np.uint64]
MinHashes = npt.NDArray[np.uint32]


def band_keys(minhashes: MinHashes) -> Keys:
    """The LSH band keys of each MinHash row (one row of BANDS keys per MinHash).

    Keys of all bands share one space (a band's number is added, not kept apart), as the
    index always had them: two entries are candidates when any of their keys are equal.
    """
    rows = minhashes.astype(np.uint64).reshape(len(minhashes), BANDS, ROWS) * _MIX[:ROWS]
    keys: Keys = rows[:, :, 0]
    for row in range(1, ROWS):  # ufunc.reduce over so short an axis costs more
        keys = keys ^ rows[:, :, row]
    keys += np.arange(BANDS, dtype=np.uint64)  # rows is this call's own: keys may be a view
    return keys


@dataclass(slots=True)
class _Rows:
    numbers: Int64s
    times: Floats
    minhashes: MinHashes  # (rows, NUM_PERM)

    @staticmethod
    def join(parts: list[_Rows]) -> _Rows:
        return _Rows(
            np.concatenate([p.numbers for p in parts]),
            np.concatenate([p.times for p in parts]),
            np.concatenate([p.minhashes for p in parts]),
        )

    def take(self, mask: npt.NDArray[np.bool_]) -> _Rows:
        return _Rows(self.numbers[mask], self.times[mask], self.minhashes[mask])


def _rows(numbers: Int64s | list[int], times: Floats | list[float], minhashes: MinHashes) -> _Rows:
    return _Rows(
        np.asarray(numbers, dtype=np.int64),
        np.asarray(times, dtype=np.float64),
        np.asarray(minhashes, dtype=np.uint32),
    )


class Bands:
    """The placed entries with a MinHash (entries without words have none), as arrays:
    their rows in the order added, and every band key of theirs in sorted order with the
    row it belongs to (``_keys``, ``_owners``: 32-bit, the index's rows are far fewer)."""

    def __init__(self) -> None:
        self._parts: list[_Rows] = []
        self._keys: Keys = np.empty(0, dtype=np.uint64)
        self._owners: Int32s = np.empty(0, dtype=np.int32)

    def _all(self) -> _Rows | None:
        if len(self._parts) > 1:  # joined once, when asked, not at every add
            self._parts = [_Rows.join(self._parts)]
        return self._parts[0] if self._parts else None

    def __len__(self) -> int:
        return sum(len(p.numbers) for p in self._parts)

    def add(self, numbers: list[int], times: list[float], minhashes: MinHashes) -> None:
        if not numbers:
            return
        rows = _rows(numbers, times, minhashes)
        keys = band_keys(rows.minhashes).ravel()
        order = np.argsort(keys)
        self._merge(keys[order], order, len(self), self._after(keys[order]))
        self._parts.append(rows)

    def _after(self, needles: Keys) -> Int64s:
        """Where each of the sorted ``needles`` goes in the sorted keys: after the equal
        ones there (searched in order, each search starting where the last ended)."""
        return np.searchsorted(self._keys, needles, side="right")

    def _merge(self, needles: Keys, order: Int64s, first: int, after: Int64s) -> None:
        """Merge the band keys of rows numbered from ``first`` (``needles``: sorted by
        ``order`` from flat, row by row; ``after``: :meth:`_after` of them) into the
        sorted keys."""
        owners = (order // BANDS + first).astype(np.int32)
        self._keys = np.insert(self._keys, after, needles)
        self._owners = np.insert(self._owners, after, owners)

    def forget(self, before: float) -> None:
        """Drop the entries published before ``before``."""
        rows = self._all()
        if rows is None:
            return
        kept = rows.times >= before
        if kept.all():
            return
        renumbered = (np.cumsum(kept) - 1).astype(np.int32)  # a kept row's number now
        live = kept[self._owners]
        self._keys = self._keys[live]  # still sorted
        self._owners = renumbered[self._owners[live]]
        self._parts = [rows.take(kept)]

    def duplicates(
        self,
        numbers: list[int],
        times: list[float],
        minhashes: MinHashes,
        *,
        window: float,
        duplicate: float,
        add: bool = False,
    ) -> list[list[int]]:
        """For each entry of a batch, in the order given (which must be the order they are
        placed in): the numbers of the entries placed before it, here or earlier in the
        batch, that share a band key with it, were published at most ``window`` seconds
        before it (or at any time after) and agree on ``duplicate`` of the MinHash.

        With ``add``, the batch is then added as :meth:`add` would add it, its keys made
        and sorted once for both, and its rows kept as joined here (not joined again)."""
        found: list[list[int]] = [[] for _ in numbers]
        if not numbers:
            return found
        batch = _rows(numbers, times, minhashes)
        keys = band_keys(batch.minhashes)
        flat = keys.ravel()
        order = np.argsort(flat)
        placed = self._all()
        # Rows numbered as placed, then the batch's: an earlier row is placed before.
        rows = _Rows.join([placed, batch]) if placed is not None else batch
        first = len(rows.numbers) - len(numbers)  # the batch's first row
        needles = flat[order]
        after = self._after(needles)  # for the pairs with placed rows, and for the merge
        parts = itertools.chain(
            _placed_pairs(self._keys, self._owners, needles, order, after, first),
            ((later + first, earlier + first) for later, earlier in _sharing(keys, 0)),
        )
        for later, earlier in parts:
            # Each pair once (entries sharing several bands), within the window, agreeing.
            pairs = np.sort(earlier * len(rows.numbers) + later)
            pairs = pairs[np.diff(pairs, prepend=-1) != 0]
            earlier, later = np.divmod(pairs, len(rows.numbers))
            near = rows.times[earlier] >= rows.times[later] - window
            earlier, later = earlier[near], later[near]
            near = _agreement(rows.minhashes, earlier, later) / NUM_PERM >= duplicate
            for row, number in zip(
                (later[near] - first).tolist(), rows.numbers[earlier[near]].tolist(), strict=True
            ):
                found[row].append(number)
        if add:
            self._merge(needles, order, first, after)
            self._parts = [rows]
        return found


def _placed_pairs(
    sorted_keys: Keys,
    owners: Int32s,
    needles: Keys,
    order: Int64s,
    after: Int64s,
    first: int,
) -> Iterator[tuple[Int64s, Int64s]]:
    """Pairs of rows (later, earlier): each row of a batch's band keys (``needles``: the
    flat keys, row by row, sorted by ``order``; the rows numbered from ``first``) with
    every placed row that has one of its keys (``sorted_keys``, each of ``owners``;
    ``after``: where each needle goes after the equal keys), in parts of about
    MAX_PAIRS (all the pairs of one row in the same part)."""
    if not len(sorted_keys) or not len(needles):
        return
    rows = len(needles) // BANDS
    # Searched in sorted order (each search starts where the last one ended), then put back.
    low = np.empty(len(needles), dtype=np.int64)
    counts = np.empty(len(needles), dtype=np.int64)
    low[order] = np.searchsorted(sorted_keys, needles, side="left")
    counts[order] = after - low[order]
    made = np.cumsum(counts.reshape(rows, BANDS).sum(axis=1))  # up to each row's end
    if not made[-1]:
        return
    ends = [0, rows]
    if made[-1] > MAX_PAIRS:  # rarely: in parts, each row's pairs in one part
        wanted = np.arange(MAX_PAIRS, made[-1], MAX_PAIRS)
        ends = [0, *np.unique(np.searchsorted(made, wanted) + 1).tolist(), rows]
    for lo, hi in itertools.pairwise(ends):
        part = counts[lo * BANDS : hi * BANDS]
        total = int(part.sum())
        if lo >= hi or not total:
            continue
        # Each element's run of equal placed keys, one after the other.
        within = np.arange(total) - np.repeat(np.cumsum(part) - part, part)
        earlier = owners[np.repeat(low[lo * BANDS : hi * BANDS], part) + within].astype(np.int64)
        later = np.repeat(np.arange(lo * BANDS, hi * BANDS) // BANDS + first, part)
        yield later, earlier


# Pairs compared at a time: the two MinHashes of each are copied out (256 bytes each).
_COMPARED = 1 << 16


def _agreement(minhashes: MinHashes, earlier: Int64s, later: Int64s) -> Int64s:
    """How many MinHash positions each pair of rows agrees on."""
    agree = np.empty(len(earlier), dtype=np.int64)
    for lo in range(0, len(earlier), _COMPARED):
        hi = lo + _COMPARED
        same = minhashes[earlier[lo:hi]] == minhashes[later[lo:hi]]
        agree[lo:hi] = np.count_nonzero(same, axis=1)
    return agree


def _sharing(keys: Keys, first: int) -> Iterator[tuple[Int64s, Int64s]]:
    """Pairs of rows (later, earlier) with an equal key, ``later`` one of ``first`` on, in
    parts of about MAX_PAIRS (all the pairs of one ``later`` row in the same part).

    One sort of every key with its position packed into its low bits (a sort of plain
    integers is several times faster than an argsort): equal keys then sit together,
    each run in row order. A run is of equal high bits, so each pair is checked on the
    whole key.
    """
    flat = keys.ravel()
    bits = max(1, (len(flat) - 1).bit_length())
    low = np.uint64((1 << bits) - 1)
    ordered = np.sort((flat & ~low) | np.arange(len(flat), dtype=np.uint64))
    high = ordered >> np.uint64(bits)
    # Most keys are in no other row: only the elements after an equal one make pairs.
    follows = np.flatnonzero(high[1:] == high[:-1]) + 1
    position = (ordered[follows] & low).astype(np.int64)
    mine = position // BANDS >= first
    follows, position = follows[mine], position[mine]
    # Where each run of equal high bits starts, for every element of a run.
    run = np.arange(len(high))
    run[1:][high[1:] == high[:-1]] = 0
    start = np.maximum.accumulate(run)[follows]
    counts = follows - start
    # What the parts need of the sort: each element's position (a generator's locals live
    # while its caller works on a part, so the rest goes now).
    ordered &= low
    del high, run, follows, mine
    bounds = [0, len(counts)]
    if counts.sum() > MAX_PAIRS:  # rarely: in parts, each row's elements in one part
        by_row = np.argsort(position // BANDS, kind="stable")
        position, start, counts = position[by_row], start[by_row], counts[by_row]
        rows = position // BANDS
        ends = np.flatnonzero(np.r_[rows[1:] != rows[:-1], True]) + 1  # after a row's last
        made = np.cumsum(counts)[ends - 1]  # pairs made up to the end of each row
        wanted = np.arange(MAX_PAIRS, made[-1], MAX_PAIRS)
        bounds = [0, *np.unique(ends[np.searchsorted(made, wanted)]).tolist(), len(counts)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        if lo == hi:
            continue
        part = counts[lo:hi]
        # Pairs (each earlier element of the run, this element).
        other = np.repeat(start[lo:hi] - np.cumsum(part) + part, part) + np.arange(part.sum())
        later = np.repeat(position[lo:hi], part)
        earlier = ordered[other].astype(np.int64)
        same = (flat[later] == flat[earlier]) & (later // BANDS != earlier // BANDS)
        pairs = later[same] // BANDS, earlier[same] // BANDS
        del other, later, earlier, same  # not kept while the caller works on the part
        yield pairs
