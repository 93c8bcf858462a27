"""The daemon's passes in child processes (``aggregator.offload``). Clustering: the same
stories as the daemon's clustering in its own process, entry by entry, whether the child
keeps its clusterer or is started again after every pass (rebuilding from the store); a
child that dies or fails is reported and replaced. Digests: a due issue is built and
sent by a child, stopped with the tick; a tick with nothing due starts none. A database
in memory stays in-process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from aggregator import daemon, offload, pipeline
from aggregator.config import ServerSettings, Settings
from aggregator.digest import Due
from aggregator.offload import ClusteringProcess, DigestProcess, OffloadError, shareable
from tests.cluster import test_cluster_standing
from tests.cluster.test_cluster_standing import PASS, START, Twin, arrivals, stories
from tests.loopback import free_port

twins = test_cluster_standing.twins  # the fixture: two stores fed the same entries


def _passes(
    twins: tuple[Twin, Twin], process: ClusteringProcess, count: int, seed: int
) -> list[float | None]:
    """Feed both twins the same arrivals; the first clusters in ``process``, the second
    with a clusterer kept in this process; the same stories after every pass. Returns
    the child's memory after each pass."""
    child, here = twins
    kept = pipeline.KeptClusterer()
    incoming = arrivals(count, seed=seed)
    memory = []
    for start in range(0, len(incoming), PASS):
        batch = incoming[start : start + PASS]
        child.arrive(batch)
        here.arrive(batch)
        placed = process.cluster(child.store, child.settings, now=START, batch=daemon.CLUSTER_BATCH)
        assert placed == here.cluster(kept) == len(batch)
        assert stories(child.store) == stories(here.store), f"pass from entry {start}"
        memory.append(process.resident_mb)
    placed_stories = stories(child.store)
    assert len(placed_stories) - len(set(placed_stories.values())) > 20  # copies joined
    return memory


def test_a_kept_child_places_as_the_daemon_did_in_its_own_process(
    twins: tuple[Twin, Twin],
) -> None:
    process = ClusteringProcess(growth=100.0)  # never restarted
    try:
        memory = _passes(twins, process, 240, seed=11)
        assert process.started == 1 and process.recycled == 0
        if memory[0] is not None:  # Linux: the child reports its memory
            assert process.reference_mb == memory[0]
    finally:
        process.close()
    assert process.pid is None


def test_a_child_started_again_after_every_pass_rebuilds_and_places_the_same(
    twins: tuple[Twin, Twin],
) -> None:
    process = ClusteringProcess(growth=-1.0)  # any memory is too much: a new child each pass
    try:
        memory = _passes(twins, process, 240, seed=12)
    finally:
        process.close()
    if memory[0] is None:
        pytest.skip("no /proc: the child's memory is not known, so it is never recycled")
    assert process.started == process.recycled == len(memory)


def test_a_tick_with_nothing_new_starts_no_child(twins: tuple[Twin, Twin]) -> None:
    child, _ = twins
    process = ClusteringProcess()
    assert process.cluster(child.store, child.settings, now=START, batch=10) == 0
    assert process.started == 0 and process.pid is None


def test_a_child_that_dies_is_reported_and_the_next_pass_starts_another(
    twins: tuple[Twin, Twin],
) -> None:
    child, here = twins
    process = ClusteringProcess(growth=100.0)
    incoming = arrivals(120, seed=13)
    try:
        child.arrive(incoming[:PASS])
        process.cluster(child.store, child.settings, now=START, batch=100)
        first = process._process
        assert first is not None
        first.kill()
        first.wait()
        child.arrive(incoming[PASS:])
        with pytest.raises(OffloadError, match="stopped during the pass"):
            process.cluster(child.store, child.settings, now=START, batch=100)
        assert (
            process.cluster(child.store, child.settings, now=START, batch=100)
            == len(incoming) - PASS
        )
        assert process.started == 2
    finally:
        process.close()
    # What the dead child left is what a clusterer in this process makes of it.
    here.arrive(incoming[:PASS])
    here.cluster(None)
    here.arrive(incoming[PASS:])
    here.cluster(None)
    assert stories(child.store) == stories(here.store)


def test_a_failed_pass_comes_back_as_an_error_and_the_child_stays(
    twins: tuple[Twin, Twin], tmp_path: Path
) -> None:
    child, _ = twins
    child.arrive(arrivals(10, seed=14))
    unreadable = replace(
        child.settings,
        storage=replace(child.settings.storage, url=f"sqlite:///{tmp_path}/not-a-db"),
    )
    (tmp_path / "not-a-db").write_bytes(b"not a database" * 100)
    process = ClusteringProcess()
    try:
        with pytest.raises(OffloadError, match="cluster failed in its process"):
            process.cluster(child.store, unreadable, now=START, batch=10)
        assert process.pid is not None  # the child outlives a failed pass
        assert process.cluster(child.store, child.settings, now=START, batch=10) == 10
        assert process.started == 1
    finally:
        process.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/aggregator/a.db", True),
        ("sqlite:///var/a.db", True),
        ("postgresql+psycopg://user@host/db", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
        ("sqlite:///file:x?mode=memory&uri=true", False),
    ],
)
def test_only_a_database_another_process_can_open_is_shared(url: str, expected: bool) -> None:
    assert shareable(url) is expected


def test_the_daemon_clusters_in_a_child_unless_its_database_is_in_memory(
    make_settings: Callable[..., Settings],
) -> None:
    from aggregator.store import open_store

    for url, child in (("sqlite:///:memory:", False), (None, True)):
        settings = make_settings(database_url=url)
        settings = replace(settings, server=ServerSettings(port=free_port()))
        store = open_store(settings.storage.url)
        try:
            made = daemon.Daemon(store, settings)
            made.web.socket.close()
            assert isinstance(made.clustering, ClusteringProcess) is child
            assert isinstance(made.digests, DigestProcess) is child
        finally:
            store.close()
    assert offload.RECYCLE_GROWTH > 0


def test_a_due_digest_is_built_and_sent_in_a_child_stopped_with_the_tick(
    make_settings: Callable[..., Settings], now: datetime, tmp_path: Path
) -> None:
    from tests.test_pipeline import fetched_with_digest

    settings, store = fetched_with_digest(make_settings, now)
    pipeline.cluster_new_entries(store, settings, now=now)
    process = DigestProcess()
    # What decides whether a child starts is the pipeline's own due check.
    assert [due for _, _, due in pipeline.due_digests(store, settings, now=now)] == [Due.RUN]
    try:
        assert process.run_due_digests(store, settings, now=now) == 1
        assert process.running and process.started == 1
        assert process.deliver_pending(store, settings, now=now) == 2  # two subscribers
        process.close()
        assert not process.running
        # Nothing due: the steps run here, and no child is started.
        assert Due.RUN not in [due for _, _, due in pipeline.due_digests(store, settings, now=now)]
        assert process.run_due_digests(store, settings, now=now) == 0
        assert process.deliver_pending(store, settings, now=now) == 0
        assert process.started == 1 and not process.running
    finally:
        process.close()
    assert store.delivery_counts() == {"sent": 2}
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 2
    store.close()


def test_a_tick_uses_the_children_and_stops_the_digest_one_even_after_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    class Clustering:
        def cluster(self, *_: object, batch: int, **__: object) -> int:
            calls.append(f"cluster {batch}")
            return 0

    class Digests:
        def run_due_digests(self, *_: object, **__: object) -> int:
            calls.append("digests")
            raise OffloadError("run_due_digests failed in its process: boom")

        def deliver_pending(self, *_: object, **__: object) -> int:
            calls.append("deliver")
            return 0

        def close(self) -> None:
            calls.append("close")

    async def nothing_fetched(*_: object, **__: object) -> list[object]:
        return []

    def not_here(*_: object, **__: object) -> None:
        raise AssertionError("run in the daemon's own process")

    monkeypatch.setattr(pipeline, "refresh_feeds", nothing_fetched)
    monkeypatch.setattr(pipeline, "process_unsubscribe_mail", lambda *_, **__: None)
    for step in ("cluster_new_entries", "run_due_digests", "deliver_pending"):
        monkeypatch.setattr(pipeline, step, not_here)
    asyncio.run(
        daemon.run_tick(
            object(),  # type: ignore[arg-type]
            object(),  # type: ignore[arg-type]
            clustering=Clustering(),  # type: ignore[arg-type]
            digests=Digests(),  # type: ignore[arg-type]
        )
    )
    assert calls == [f"cluster {daemon.CLUSTER_BATCH}", "digests", "deliver", "close"]


def test_a_child_outlives_sigterm_and_leaves_when_the_daemon_closes_it(
    twins: tuple[Twin, Twin],
) -> None:
    # systemd sends SIGTERM to every process of the service: the pass under way finishes
    # and the daemon stops the child itself.
    import signal
    import time

    child, _ = twins
    child.arrive(arrivals(10, seed=15))
    process = ClusteringProcess(growth=100.0)
    try:
        assert process.cluster(child.store, child.settings, now=START, batch=10) == 10
        started = process._process
        assert started is not None
        started.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert started.poll() is None
    finally:
        process.close()
    assert started.returncode == 0


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_child_whose_daemon_is_killed_stops_at_once() -> None:
    # SIGKILL (or the OOM killer) takes the daemon but not its children, and a child in
    # the middle of a pass would not notice its connection closing: a digest child left
    # alone would go on sending beside the restarted daemon. It must stop at once. Here
    # this test holds the daemon's end of the connection, so the child never reads the
    # end of its input: only its watch on its parent can stop it.
    import signal
    import socket
    import subprocess
    import sys
    import time

    ours, theirs = socket.socketpair()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "fd = int(sys.argv[1])\n"
            "child = subprocess.Popen([sys.executable, '-m', 'aggregator.offload', str(fd),"
            " '30', 'text', 'digests'], pass_fds=(fd,))\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
            str(theirs.fileno()),
        ],
        pass_fds=(theirs.fileno(),),
        stdout=subprocess.PIPE,
        text=True,
    )
    theirs.close()
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        time.sleep(1.0)
        assert not _gone(pid)  # waiting for work while its daemon lives
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(pid)
    finally:
        ours.close()
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
