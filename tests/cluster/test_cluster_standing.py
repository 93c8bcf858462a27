"""The daemon's standing clusterer: the same stories as a clusterer made for each pass from
the store, entry by entry, while it drops entries that leave the window and starts again
from the store after a restart or when the store changed behind it."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator import cluster, pipeline
from aggregator.cluster import Clusterer
from aggregator.config import Settings
from aggregator.model import Entry
from aggregator.store import Store, open_store
from bench.cluster_scale import generate

FEEDS = 5
WINDOW_HOURS = 2.0  # the generated entries span about 13 hours
PASS = 40  # entries that arrive between two passes


def arrivals(count: int, seed: int) -> list[Entry]:
    """Reports of generated stories (near-duplicates and copies), in the order a poller
    meets them: each up to an hour after it was published, so passes bring late
    ones, some older than what the window of the previous pass kept."""
    entries, _ = generate(count, seed)
    rng = random.Random(seed)
    late = {e.id: timedelta(minutes=60 * rng.random() ** 2) for e in entries}
    return sorted(entries, key=lambda e: e.published + late[e.id])


def stories(store: Store) -> dict[str, int | None]:
    return {e.entry_key: e.story_id for e in store.list_entries(limit=10_000)}


class Twin:
    """A store of its own, fed the same entries in the same order (so the same ids)."""

    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = replace(settings, storage=replace(settings.storage, url=url))
        self.store = open_store(url)
        self.feeds = [
            self.store.add_feed(f"https://outlet{i}.example/feed", now=START)[0].id
            for i in range(FEEDS)
        ]

    def arrive(self, batch: Sequence[Entry]) -> None:
        for entry in batch:
            feed = self.feeds[entry.feed_id % FEEDS]
            self.store.upsert_entries(feed, [replace(entry, id=None, feed_id=feed)], now=START)

    def cluster(self, kept: pipeline.KeptClusterer | None) -> int:
        return pipeline.cluster_new_entries(self.store, self.settings, now=START, kept=kept)


START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def twins(
    make_settings: Callable[..., Settings], tmp_path: pytest.TempPathFactory
) -> Iterator[tuple[Twin, Twin]]:
    settings = make_settings(f"[cluster]\nwindow_hours = {WINDOW_HOURS}\n")
    kept, fresh = (Twin(settings, f"sqlite:///{tmp_path}/{name}.db") for name in ("a", "b"))
    yield kept, fresh
    kept.store.close()
    fresh.store.close()


def passes(
    twins: tuple[Twin, Twin], incoming: Sequence[Entry], size: int = PASS
) -> Iterator[tuple[int, Sequence[Entry]]]:
    """Each pass's number and the entries that arrived before it, given to both twins
    (the test then clusters each as the pass calls for)."""
    for number, start in enumerate(range(0, len(incoming), size)):
        batch = incoming[start : start + size]
        for twin in twins:
            twin.arrive(batch)
        yield number, batch


def test_standing_placements_are_those_of_a_clusterer_made_each_pass(
    twins: tuple[Twin, Twin],
) -> None:
    standing, fresh = twins
    kept = pipeline.KeptClusterer()
    incoming = arrivals(600, seed=4)
    joined = 0
    for number, batch in passes(twins, incoming):
        assert standing.cluster(kept) == fresh.cluster(None) == len(batch)
        placed = stories(standing.store)
        assert placed == stories(fresh.store), f"pass {number}"
        joined = len(placed) - len(set(placed.values()))
    assert joined > 50  # copies did join stories: the comparison is not between singletons
    assert kept.standing is not None
    assert kept.standing.rebuilds == 1  # it never had to start again
    # It dropped what left the window: far fewer entries than it placed.
    assert kept.standing.entries < len(incoming) / 2


@pytest.mark.parametrize("late", [cluster.LATE, 0.0])
def test_what_a_later_batch_reaching_further_back_needs_is_still_in_memory(
    twins: tuple[Twin, Twin], late: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Some entries come late (45 minutes, within half the window): the entries the index
    # keeps before the window of a batch spare it reading and placing again what
    # it had dropped (whose objects pinned pymalloc's arenas, bench/clustering_memory.py).
    # Without them (0.0, as before) it did; the stories are the same either way.
    monkeypatch.setattr(cluster, "LATE", late)
    standing, fresh = twins
    kept = pipeline.KeptClusterer()
    # In published order but every 25th entry, which comes 45 minutes late.
    entries = sorted(generate(600, 4)[0], key=lambda e: e.published)
    delay = {e.id: timedelta(minutes=45) for e in entries[::25]}
    incoming = sorted(entries, key=lambda e: e.published + delay.get(e.id, timedelta(0)))
    for _ in passes(twins, incoming, 10):  # a pass every quarter of an hour or so
        standing.cluster(kept)
        fresh.cluster(None)
    assert stories(standing.store) == stories(fresh.store)
    assert kept.standing is not None and kept.standing.rebuilds == 1
    if late:
        assert kept.standing.replaced == 0
    else:
        assert kept.standing.replaced > 0


def test_a_restart_and_another_process_are_read_from_the_store(
    twins: tuple[Twin, Twin],
) -> None:
    standing, fresh = twins
    kept = pipeline.KeptClusterer()
    incoming = arrivals(400, seed=7)
    for number, _ in passes(twins, incoming):
        if number == 3:
            kept = pipeline.KeptClusterer()  # a restart: nothing in memory
        if number == 6:
            standing.cluster(None)  # `aggregator cluster` run beside the daemon
        else:
            standing.cluster(kept)
        fresh.cluster(None)
        assert stories(standing.store) == stories(fresh.store), f"pass {number}"
    assert kept.standing is not None
    assert kept.standing.rebuilds == 1  # after the restart; the other process only added


@pytest.mark.parametrize("chunk", [cluster.PLACE_CHUNK, 7])
def test_a_rebuilt_clusterer_places_the_window_and_the_stretch_before_it(
    twins: tuple[Twin, Twin], chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After a restart the stored entries are placed a chunk at a time (7: many chunks),
    # with the LATE stretch before the window that a clusterer going on keeps: the
    # same stories, and the same entries in memory as that one would hold.
    monkeypatch.setattr(cluster, "PLACE_CHUNK", chunk)
    standing, fresh = twins
    kept = pipeline.KeptClusterer()
    incoming = arrivals(600, seed=7)
    window = timedelta(hours=WINDOW_HOURS)
    for number, batch in passes(twins, incoming):
        if number == 12:
            kept = pipeline.KeptClusterer()  # a restart: nothing in memory
            since = min(e.published for e in standing.store.unclustered_entries()) - window
            reach = since - cluster.late_margin(window)
            before = set(standing.store.clustered_stories_since(reach))
            assert len(before) > len(standing.store.clustered_stories_since(since))
        standing.cluster(kept)
        fresh.cluster(None)
        assert stories(standing.store) == stories(fresh.store), f"pass {number}"
        if number == 12:
            assert kept.standing is not None and kept.standing.rebuilds == 1
            assert kept.standing.entries == len(before) + len(batch)


def test_memory_that_disagrees_with_the_store_starts_again(twins: tuple[Twin, Twin]) -> None:
    standing, _ = twins
    kept = pipeline.KeptClusterer()
    incoming = arrivals(120, seed=9)
    standing.arrive(incoming[:60])
    standing.cluster(kept)

    def fail(*args: object, **kwargs: object) -> list[int]:
        raise RuntimeError("the database went away")

    store = standing.store
    writes = store.apply_cluster_plan
    store.apply_cluster_plan = fail  # type: ignore[method-assign]
    standing.arrive(incoming[60:90])
    with pytest.raises(RuntimeError):
        standing.cluster(kept)  # planned in memory, never stored
    store.apply_cluster_plan = writes  # type: ignore[method-assign]
    standing.arrive(incoming[90:])
    assert standing.cluster(kept) == 60
    assert kept.standing is not None and kept.standing.rebuilds == 2
    assert None not in stories(store).values()


def entry(number: int, when: datetime, title: str) -> Entry:
    return Entry(
        id=number,
        feed_id=1,
        entry_key=str(number),
        url=f"https://outlet.example/{number}",
        title=title,
        summary=f"{title}. Giá vàng SJC hôm nay tăng mạnh theo thị trường thế giới.",
        published=when,
    )


def test_entries_leave_lookups_with_the_window_and_memory_soon_after() -> None:
    clusterer = Clusterer(threshold=0.2, window=timedelta(hours=1))
    title = "Giá vàng SJC tăng lên 85 triệu đồng mỗi lượng tại Hà Nội"
    first = clusterer.plan([entry(1, START, title)])
    clusterer.settle([101])
    assert len(first.new_stories) == 1
    copy = clusterer.plan([entry(2, START + timedelta(minutes=30), title)])
    assert copy.joins == {101: [2]}  # within the window: a copy joins
    late = clusterer.plan([entry(3, START + timedelta(hours=3), title)])
    assert not late.joins and len(late.new_stories) == 1  # the window passed: a new story
    clusterer.settle([102])
    assert 1 not in clusterer and 2 not in clusterer  # and memory let them go
    assert 3 in clusterer


def test_entries_share_their_keys_and_forgotten_keys_leave_memory() -> None:
    # One int object per key for the whole index, not one per entry and key: the index's
    # long-lived small objects are what keeps pymalloc's arenas (bench/soak.py).
    clusterer = Clusterer(threshold=0.2, window=timedelta(hours=1))
    title = "Giá vàng SJC tăng lên 85 triệu đồng mỗi lượng tại Hà Nội"
    clusterer.plan([entry(1, START, title), entry(2, START + timedelta(minutes=5), title)])
    index = clusterer.index
    first, second = index.targets[1].keys, index.targets[2].keys
    assert first == second and first
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert set(index.shared) == set(index.postings)
    clusterer.plan([entry(3, START + timedelta(hours=3), "Bão số 9 đổ bộ vào Quảng Ngãi")])
    assert 1 not in clusterer and 2 not in clusterer
    assert set(index.shared) == set(index.postings)  # the keys only they had are gone
    assert not set(first) & set(index.shared) - set(index.targets[3].keys)


def test_entries_without_title_facts_share_them() -> None:
    # Facts are kept per entry for as long as it is in the window: one object for every
    # entry of a day without a year or a mark in its title, no dict of sets per entry.
    clusterer = Clusterer(threshold=0.2, window=timedelta(hours=1))
    clusterer.plan(
        [
            entry(1, START, "Giá vàng SJC tăng mạnh tại Hà Nội"),
            entry(2, START + timedelta(minutes=5), "Thủ tướng tiếp đoàn doanh nghiệp"),
            entry(3, START + timedelta(minutes=9), "Bão số 9 đổ bộ vào Quảng Ngãi"),
        ]
    )
    targets = clusterer.index.targets
    assert targets[1].facts is targets[2].facts
    years, marks, _ = targets[3].facts
    assert not years and marks and isinstance(marks, frozenset)


def test_the_daemon_empties_the_memos_of_signing_once_a_minute(twins: tuple[Twin, Twin]) -> None:
    from aggregator.cluster import signature

    kept, _ = twins
    memos = (signature._FOLDED, signature._OUTLETS, *signature._NAME_FORMS, *signature._RUNS)
    clusterer = pipeline.KeptClusterer()
    batches = iter(arrivals(3 * PASS, seed=3)[i : i + PASS] for i in range(0, 3 * PASS, PASS))

    def cluster(now: datetime) -> None:
        kept.arrive(next(batches))
        assert pipeline.cluster_new_entries(kept.store, kept.settings, now=now, kept=clusterer)

    cluster(START)
    cluster(START + pipeline.MEMO_LIFETIME / 2)
    assert any(memos)  # kept from pass to pass within the minute
    cluster(START + pipeline.MEMO_LIFETIME)
    assert not any(memos)


def test_the_stretch_kept_before_the_window_is_half_of_it_at_most_six_hours() -> None:
    # The soak's three-minute window keeps 90 s before it; the 72 h default keeps 6 h,
    # not 36 h: how late a batch comes depends on polling, not on the window.
    assert cluster.late_margin(timedelta(minutes=3)) == timedelta(seconds=90)
    assert cluster.late_margin(timedelta(hours=10)) == timedelta(hours=5)
    assert cluster.late_margin(timedelta(hours=72)) == timedelta(hours=6)
