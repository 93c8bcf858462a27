"""The batch LSH of aggregator.cluster.lsh finds what a walk over every earlier entry finds."""

from __future__ import annotations

import numpy as np
import pytest

from aggregator.cluster import lsh
from aggregator.cluster.lsh import BANDS, Bands, band_keys
from aggregator.cluster.signature import NUM_PERM

WINDOW = 100.0
DUPLICATE = 0.4


def minhashes(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random MinHashes from a small range (so unrelated rows share some bands), and
    edited copies of earlier rows (so many rows are near-duplicates)."""
    rows = rng.integers(0, 6, size=(count, NUM_PERM), dtype=np.uint32)
    for row in range(1, count):
        if rng.random() < 0.5:
            source = rows[rng.integers(0, row)].copy()
            edited = rng.random(NUM_PERM) < rng.random()
            source[edited] = rng.integers(0, 1 << 32, size=int(edited.sum()), dtype=np.uint32)
            rows[row] = source
    return rows


def brute_force(times: list[float], rows: np.ndarray, first: int) -> list[list[int]]:
    """For each row from ``first`` on: the earlier rows sharing a band key, in the window
    before it (or later), agreeing on DUPLICATE of the positions."""
    keys = band_keys(rows)
    found: list[list[int]] = []
    for later in range(first, len(rows)):
        near = [
            earlier
            for earlier in range(later)
            if set(keys[earlier].tolist()) & set(keys[later].tolist())
            and times[earlier] >= times[later] - WINDOW
            and np.count_nonzero(rows[earlier] == rows[later]) / NUM_PERM >= DUPLICATE
        ]
        found.append(near)
    return found


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_pairs", [lsh.MAX_PAIRS, 50, 1])
def test_the_duplicates_of_a_batch_are_those_a_walk_over_earlier_entries_finds(
    seed: int, max_pairs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also when the candidate pairs are made in parts (a small MAX_PAIRS)."""
    monkeypatch.setattr(lsh, "MAX_PAIRS", max_pairs)
    rng = np.random.default_rng(seed)
    count, placed = 120, 70
    rows = minhashes(rng, count)
    # Mostly in published order, some late; the placed part spans more than a window.
    times = sorted(float(t) for t in rng.uniform(0, 300, count))
    for late in rng.integers(0, count, 10):
        times[late] -= 50.0
    numbers = [1000 + n for n in range(count)]
    bands = Bands()
    bands.add(numbers[:20], times[:20], rows[:20])
    bands.add(numbers[20:placed], times[20:placed], rows[20:placed])
    found = bands.duplicates(
        numbers[placed:], times[placed:], rows[placed:], window=WINDOW, duplicate=DUPLICATE
    )
    expected = brute_force(times, rows, placed)
    assert [sorted(f) for f in found] == [[numbers[e] for e in near] for near in expected]
    assert any(expected), "the data must have near-duplicates to check"


def test_an_empty_batch_or_index_and_forgetting() -> None:
    rng = np.random.default_rng(9)
    rows = minhashes(rng, 10)
    bands = Bands()
    empty = np.empty((0, NUM_PERM), dtype=np.uint32)
    assert bands.duplicates([], [], empty, window=WINDOW, duplicate=DUPLICATE) == []
    unique = rng.integers(0, 1 << 32, size=(1, NUM_PERM), dtype=np.uint32)
    assert bands.duplicates([1], [0.0], unique, window=WINDOW, duplicate=DUPLICATE) == [[]]
    bands.add([1, 2], [0.0, 50.0], np.vstack([rows[0], rows[0]]))
    again = rows[:1]
    assert bands.duplicates([3], [60.0], again, window=WINDOW, duplicate=DUPLICATE) == [[1, 2]]
    bands.forget(10.0)
    assert len(bands) == 1
    assert bands.duplicates([3], [60.0], again, window=WINDOW, duplicate=DUPLICATE) == [[2]]


def test_band_keys_have_one_key_per_band() -> None:
    rows = np.arange(2 * NUM_PERM, dtype=np.uint32).reshape(2, NUM_PERM)
    assert band_keys(rows).shape == (2, BANDS)


def test_many_copies_of_one_text_are_each_others_duplicates_in_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same text posted again and again: every earlier copy, whatever the parts."""
    monkeypatch.setattr(lsh, "MAX_PAIRS", 100)
    row = np.random.default_rng(3).integers(0, 1 << 32, size=(1, NUM_PERM), dtype=np.uint32)
    bands = Bands()
    bands.add(list(range(30)), [float(t) for t in range(30)], np.repeat(row, 30, axis=0))
    found = bands.duplicates(
        list(range(30, 60)),
        [float(t) for t in range(30, 60)],
        np.repeat(row, 30, axis=0),
        window=WINDOW,
        duplicate=DUPLICATE,
    )
    assert [sorted(f) for f in found] == [list(range(30 + i)) for i in range(30)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("asked", [False, True])
def test_the_sorted_keys_follow_adds_and_forgetting(seed: int, asked: bool) -> None:
    """Placed keys stay sorted with their rows through adds in parts and forgetting (the
    last part ``asked`` for its duplicates and added by the same call): the duplicates
    are those a walk over the entries still placed finds."""
    rng = np.random.default_rng(seed)
    count, placed, cut = 150, 100, 80.0
    rows = minhashes(rng, count)
    times = sorted(float(t) for t in rng.uniform(0, 300, count))
    numbers = [5000 + n for n in range(count)]
    bands = Bands()
    for lo, hi in ((0, 30), (30, 31), (31, 70)):
        bands.add(numbers[lo:hi], times[lo:hi], rows[lo:hi])
    bands.forget(cut)
    if asked:
        bands.duplicates(
            numbers[70:placed],
            times[70:placed],
            rows[70:placed],
            window=WINDOW,
            duplicate=0.4,
            add=True,
        )
    else:
        bands.add(numbers[70:placed], times[70:placed], rows[70:placed])
    found = bands.duplicates(
        numbers[placed:], times[placed:], rows[placed:], window=WINDOW, duplicate=DUPLICATE
    )
    kept = [n for n in range(count) if n >= 70 or times[n] >= cut]
    expected = brute_force([times[n] for n in kept], rows[kept], kept.index(placed))
    assert [sorted(f) for f in found] == [[numbers[kept[e]] for e in near] for near in expected]
    assert any(expected)
    assert len(bands) == len(kept) - (count - placed)
