"""Signing in worker processes: the same signatures, the same plans, and never a lost entry."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import cluster, pipeline, workers
from aggregator.cluster import Clusterer, parallel
from aggregator.cluster.signature import pack, sign_many
from aggregator.config import Settings
from aggregator.model import Entry
from aggregator.store import open_store

START = datetime(2026, 11, 22, 2, 10, tzinfo=UTC)
WORDS = (
    "Bão số 9 đổ bộ vào Quảng Ngãi Hà Nội Thủ tướng Phạm Đức Hòa thăm Nhật Bản ngày 9/11 "
    "Typhoon Yagi hits Hanoi on Nov 9 as Sao Mai Motors sells 12,436 SUVs for 5 million dong "
    "Liên hợp quốc White House U.S. TP.HCM 2024 2026 magnitude 4.2 quake"
).split()


def entries(count: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    return [
        Entry(
            id=n,
            entry_key=str(n),
            url=f"https://a.example/{n}",
            title=" ".join(rng.choices(WORDS, k=8)),
            summary=" ".join(rng.choices(WORDS, k=40)),
            published=START + timedelta(minutes=n),
            language=rng.choice(("vi", "en", "")),
            feed_title=rng.choice(("Mekong Wire", "Tin Nhanh", "")),
        )
        for n in range(1, count + 1)
    ]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "CHUNK", 16)
    monkeypatch.setattr(parallel, "MIN_ENTRIES", 32)


@pytest.fixture
def signers(small_chunks: None) -> Iterator[parallel.Signers]:
    pool = parallel.Signers(1)
    yield pool
    pool.close()


def test_a_worker_signs_byte_for_byte_as_this_process_does(signers: parallel.Signers) -> None:
    batch = entries(200)
    made = signers.sign(batch)
    assert [pack(s).data for s, _ in made] == [pack(s).data for s in sign_many(batch)]
    # The worker did sign some (it answers in packed form), and those are what it packed.
    from_worker = [(s, stored) for s, stored in made if stored is not None]
    assert from_worker
    assert all(pack(s) == stored for s, stored in from_worker)
    assert signers.peak_mb() > 0  # the worker's own peak, read while it runs


@pytest.mark.parametrize("pool", [0, 1])
def test_signing_with_part_of_it_started_ahead_gives_every_entry_in_order(
    small_chunks: None, pool: int
) -> None:
    """``Signers.sign(entries, started)``: the started ones as the workers (or, without
    any, this process) signed them, the others here; all in the order given."""
    batch = entries(120, seed=3)
    signers = parallel.Signers(pool)
    try:
        started = signers.start(batch[20:90])
        made = signers.sign(batch, started)
    finally:
        signers.close()
    assert [pack(s).data for s, _ in made] == [pack(s).data for s in sign_many(batch)]
    assert all(stored is None for _, stored in made[:20] + made[90:])  # signed here
    assert all(pack(s) == stored for s, stored in made if stored is not None)


def test_a_small_batch_is_signed_here_without_starting_a_worker(
    signers: parallel.Signers,
) -> None:
    made = signers.sign(entries(20))
    assert all(stored is None for _, stored in made)
    assert all(box._process is None for box in signers._boxes)


def test_no_workers_means_every_entry_is_signed_here(small_chunks: None) -> None:
    pool = parallel.Signers(0)
    batch = entries(100)
    assert [pack(s).data for s, _ in pool.sign(batch)] == [pack(s).data for s in sign_many(batch)]
    pool.close()


def test_a_chunk_the_worker_fails_on_is_signed_here_and_it_is_not_asked_again(
    small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = parallel.Signers(1)
    (box,) = pool._boxes
    # A worker that cannot sign: its function is not there (it dies as it starts).
    monkeypatch.setattr(box, "parser", "aggregator.cluster.parallel:no_such_function")
    calls: list[object] = []
    call = box.call

    def counted(work: object) -> object:
        calls.append(work)
        return call(work)  # type: ignore[arg-type]

    monkeypatch.setattr(box, "call", counted)
    batch = entries(100)
    try:
        made = pool.sign(batch) + pool.sign(batch)  # two batches of one pass
    finally:
        pool.close()
    assert [pack(s).data for s, _ in made] == [pack(s).data for s in sign_many(batch)] * 2
    assert all(stored is None for _, stored in made)
    assert len(calls) == 1  # not a new process for every chunk


@pytest.mark.parametrize("ahead", ["none", "parts", "next batch", "other entries"])
def test_plans_are_the_same_with_signing_workers(
    signers: parallel.Signers, monkeypatch: pytest.MonkeyPatch, ahead: str
) -> None:
    """Batches signed by the workers and this process together; planned in parts while
    the workers sign the later parts; with the next batch's signing begun during each
    plan (given that batch next, or other entry objects: then it is cancelled): the
    plans of one process."""
    if ahead != "none":
        monkeypatch.setattr(cluster, "MIN_SIGNED_AHEAD", 32)
    batch = entries(300, seed=2)
    batches = [batch[start : start + 100] for start in range(0, len(batch), 100)]
    events: list[object] = []

    def plans(pool: parallel.Signers | None) -> list[object]:
        clusterer = Clusterer(threshold=0.2, window=timedelta(hours=72))
        clusterer.signers = pool
        made = []
        for number, (new, following) in enumerate(zip(batches, [*batches[1:], []], strict=True)):
            if ahead in ("none", "parts"):
                plan = clusterer.plan(new)
            elif ahead == "next batch":
                plan = clusterer.plan(new, ahead=following)
            else:  # the same entries, but not the objects the next plan is given
                plan = clusterer.plan(new, ahead=[replace(e) for e in following])
            made.append(plan)
            clusterer.settle(list(range(number * 1000, number * 1000 + len(plan.new_stories))))
        return made

    plan_part, start = Clusterer._plan_part, parallel.Signers.start

    def planned(self: Clusterer, new: Sequence[Entry], *args: Any) -> Any:
        events.append(len(new))
        return plan_part(self, new, *args)

    def started(self: parallel.Signers, entries: Sequence[Entry]) -> parallel.Signing:
        events.append(f"start {len(entries)}")
        return start(self, entries)

    monkeypatch.setattr(Clusterer, "_plan_part", planned)
    monkeypatch.setattr(parallel.Signers, "start", started)
    with_workers = plans(signers)
    starts = ["start 40", "start 30", "start 20", "start 10"]
    parts = [40, 30, 20, 10]
    if ahead == "none":  # each whole batch handed to the workers as it is planned
        assert events == [100, "start 100"] * 3
    elif ahead == "parts":
        assert events == (starts + parts) * 3
    elif ahead == "next batch":  # each batch's parts started while the one before it plans
        assert events == starts * 2 + parts + starts + parts + parts
    else:
        assert events == (starts * 2 + parts) * 2 + starts + parts
    assert signers._started == []  # nothing left behind: what was not taken is cancelled
    assert with_workers == plans(None)


def test_what_was_started_ahead_goes_with_the_workers_it_was_started_on(
    signers: parallel.Signers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon's clusterer outlives each pass's signing workers: the next batch begun on
    workers that are then closed is not kept, and is planned without them."""
    monkeypatch.setattr(cluster, "MIN_SIGNED_AHEAD", 32)
    first, second = entries(100, seed=4), entries(200, seed=4)[100:]
    clusterer = Clusterer(threshold=0.2, window=timedelta(hours=72))
    clusterer.signers = signers
    plan = clusterer.plan(first, ahead=second)
    clusterer.settle(list(range(len(plan.new_stories))))
    assert clusterer._ahead is not None
    signers.close()
    clusterer.signers = None
    assert clusterer._ahead is None
    alone = Clusterer(threshold=0.2, window=timedelta(hours=72))
    alone.settle(list(range(len(alone.plan(first).new_stories))))
    assert clusterer.plan(second) == alone.plan(second)


def test_signing_workers_leave_one_core_to_the_clusterer() -> None:
    assert workers.signing_processes(1) == 0  # `[parse] workers = 1`: nothing beside
    assert workers.signing_processes(4) == 3
    assert workers.signing_processes(0) == workers.default_processes() - 1


@pytest.mark.parametrize("batch", [pipeline.CLUSTER_BATCH, 6])
def test_the_pipeline_signs_a_backlog_in_workers_when_there_are_cores_for_them(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    now: datetime,
    batch: int,
) -> None:
    """``[parse] workers = 2``: one signing worker beside the clusterer, with the stories
    and stored signatures of ``workers = 1`` (everything in one process); in batches of
    6, each read while the one before it is planned and signed ahead."""
    from tests.cluster.test_cluster_stored import SG, TN, read

    monkeypatch.setattr(parallel, "CHUNK", 4)  # two bundled feeds: 20 entries
    monkeypatch.setattr(parallel, "MIN_ENTRIES", 8)
    monkeypatch.setattr(cluster, "MIN_SIGNED_AHEAD", 4)

    made: dict[int, list[parallel.Signers]] = {1: [], 2: []}
    started: list[parallel.Signers] = []
    signers, start = parallel.Signers.__init__, parallel.Signers.start

    def recorded(self: parallel.Signers, processes: int, *args: Any) -> None:
        made[processes + 1].append(self)
        signers(self, processes, *args)

    def starting(self: parallel.Signers, entries: Sequence[Entry]) -> parallel.Signing:
        if self.processes and self not in started:
            started.append(self)
        return start(self, entries)

    monkeypatch.setattr(parallel.Signers, "__init__", recorded)
    monkeypatch.setattr(parallel.Signers, "start", starting)
    found = []
    for processes in (1, 2):
        settings = make_settings(
            f"[parse]\nworkers = {processes}\n",
            database_url=f"sqlite:///{tmp_path / f'{processes}.db'}",
        )
        store = open_store(settings.storage.url)
        try:
            for name in (TN, SG):
                read(store, settings, name, now)
            backlog = store.unclustered_entries()
            assert len(backlog) >= parallel.MIN_ENTRIES
            placed = pipeline.cluster_new_entries(store, settings, now=now, batch=batch)
            assert placed == len(backlog)
            assert store.unclustered_entries() == []
            signed = store.entry_signatures([e.id for e in backlog if e.id])
            assert {i: s.data for i, s in signed.items()} == {
                e.id: pack(s).data for e, s in zip(backlog, sign_many(backlog), strict=True)
            }
            (pool,) = made[processes]
            assert pool.processes == processes - 1
            # The worker did sign (it started on first use), and stopped with the pass.
            assert started == ([] if processes == 1 else [pool])
            assert all(box._process is None for box in pool._boxes)
            found.append(sorted(sorted(e.url for e in s.entries) for s in store.list_stories()))
        finally:
            store.close()
    assert found[0] == found[1]


def test_closing_gives_up_what_was_started_and_not_finished(small_chunks: None) -> None:
    pool = parallel.Signers(1)
    signing = pool.start(entries(2000))  # 125 chunks
    pool.close()  # as after a plan that failed half-way: returns without signing them all
    assert sum(part is not None for part in signing.packed) < len(signing.chunks)
    assert list(signing.pending) == []
