"""The memory settings of the daemon and its workers: glibc malloc with few arenas and a
fixed mmap threshold, unless the environment chose (``MALLOC_ARENA_MAX``,
``MALLOC_MMAP_THRESHOLD_``), nothing at all without glibc; the daemon's clustering batch."""

from __future__ import annotations

import pytest

from aggregator import memory


class FakeLibc:
    def __init__(self) -> None:
        self.options: dict[int, int] = {}
        self.trims = 0

    def mallopt(self, param: int, value: int) -> int:
        self.options[param] = value
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.trims += 1
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    fake = FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: fake)
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    return fake


def test_tune_malloc_sets_arenas_and_a_fixed_mmap_threshold(libc: FakeLibc) -> None:
    memory.tune_malloc()
    assert libc.options == {
        memory.M_ARENA_MAX: memory.ARENA_MAX,
        memory.M_MMAP_THRESHOLD: memory.MMAP_THRESHOLD,
    }


def test_tune_malloc_leaves_what_the_environment_set(
    libc: FakeLibc, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    memory.tune_malloc()
    assert libc.options == {memory.M_MMAP_THRESHOLD: memory.MMAP_THRESHOLD}


def test_release_free_memory_trims(libc: FakeLibc) -> None:
    memory.release_free_memory()
    assert libc.trims == 1


def test_without_glibc_nothing_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_libc", lambda: None)
    memory.tune_malloc()
    memory.release_free_memory()


def test_the_real_libc_is_found_on_glibc() -> None:
    found = memory._libc()
    if found is not None:  # glibc: both functions are there
        assert found.mallopt and found.malloc_trim


def test_the_daemon_clusters_in_batches_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tick that brings a minute's news or more plans it in bounded batches: one large
    # batch set a new high-water mark of pymalloc's arenas (bench/soak.py).
    import asyncio

    from aggregator import daemon, pipeline

    batches: list[int] = []

    async def nothing_fetched(*_: object, **__: object) -> list[object]:
        return []

    def cluster(*_: object, batch: int, **__: object) -> int:
        batches.append(batch)
        return 0

    monkeypatch.setattr(pipeline, "refresh_feeds", nothing_fetched)
    monkeypatch.setattr(pipeline, "cluster_new_entries", cluster)
    for step in ("process_unsubscribe_mail", "run_due_digests", "deliver_pending"):
        monkeypatch.setattr(pipeline, step, lambda *_, **__: None)
    asyncio.run(daemon.run_tick(object(), object(), kept=pipeline.KeptClusterer()))  # type: ignore[arg-type]
    assert batches == [daemon.CLUSTER_BATCH] and daemon.CLUSTER_BATCH < pipeline.CLUSTER_BATCH
