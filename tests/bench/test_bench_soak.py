"""The soak's memory dump (``bench/soak.py --dump``): what it reports, written whole."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.soak import (
    FLAT_GROWTH,
    FLAT_TREND_PER_HOUR,
    Sample,
    memory_dump,
    memory_verdict,
    offload_role,
    process_tree,
    pymalloc_arenas,
    read_memory_dump,
    write_memory_dump,
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_memory_dump_reports_this_process() -> None:
    dump = memory_dump()
    assert dump["RSS MB"] > 0
    assert dump["Python blocks"] > 0
    assert dump["types"]["dict"] > 0 and dump["types"]["function"] > 0


@pytest.mark.skipif(
    bool(os.environ.get("PYTHONMALLOC")) or sys.flags.dev_mode, reason="not plain pymalloc"
)
def test_pymalloc_arenas_are_counted_under_the_default_allocator() -> None:
    arenas = pymalloc_arenas()
    assert arenas is not None and arenas > 0


def test_a_dump_written_is_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    write_memory_dump(str(path))
    assert read_memory_dump(str(path))["types"]
    assert not (tmp_path / "dump.json.part").exists()


def _run(totals: list[float]) -> list[Sample]:
    """A sample a minute with these total MB (daemon only)."""
    return [
        Sample(elapsed=60.0 * (i + 1), daemon_mb=mb, workers_mb=0.0, metrics={}, mails=0)
        for i, mb in enumerate(totals)
    ]


def test_a_level_run_with_noise_and_a_step_that_levels_off_is_flat() -> None:
    # 40 minutes: a step right after the baseline, then level but for a few MB of noise.
    noisy = [200.0, 210.0] + [220.0 + (3.0 if i % 2 else -3.0) for i in range(38)]
    samples = _run(noisy)
    flat, growth, trend = memory_verdict(samples, samples[1])
    assert flat and abs(growth) < 0.1 and abs(trend) < FLAT_TREND_PER_HOUR


def test_a_run_that_climbs_in_steps_is_not_flat_though_within_twenty_percent() -> None:
    # The shape of the soak of 2026-12-07 on main: +16.6 % in 20 minutes, in steps.
    climbing = [206.8 + 1.45 * i + (4.0 if i % 4 == 0 else 0.0) for i in range(21)]
    samples = _run(climbing)
    flat, growth, trend = memory_verdict(samples, samples[0])
    assert growth < FLAT_GROWTH and not flat
    assert trend > 0.3  # about 87 MB an hour against 207 MB


def test_a_run_far_above_its_baseline_is_not_flat_even_when_level_at_the_end() -> None:
    samples = _run([200.0] + [260.0] * 20)
    flat, growth, _ = memory_verdict(samples, samples[0])
    assert growth > FLAT_GROWTH and not flat


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_the_daemons_pass_processes_are_told_apart_by_their_role() -> None:
    import subprocess

    # A stand-in with the command line of aggregator.offload's children.
    waiting = "import sys; print('ready', flush=True); sys.stdin.read()"
    argv = [sys.executable, "-c", waiting, "-m", "aggregator.offload", "7", "20", "text"]
    children = [
        subprocess.Popen([*argv, role], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        for role in ("clustering", "digests")
    ]
    try:
        for child in children:  # running its own command line
            assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        assert [offload_role(c.pid) for c in children] == ["clustering", "digests"]
        assert offload_role(os.getpid()) == ""  # anything else (a parse worker)
    finally:
        for child in children:
            child.communicate(b"")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_the_process_tree_counts_a_childs_children_under_its_role() -> None:
    import subprocess

    # A stand-in clustering process that starts a worker of its own (a signing worker).
    worker = "import sys; sys.stdin.read()"
    starts = (
        "import subprocess, sys; "
        f"w = subprocess.Popen([sys.executable, '-c', {worker!r}], stdin=subprocess.PIPE); "
        "print(w.pid, flush=True); sys.stdin.read(); w.communicate(b'')"
    )
    argv = [sys.executable, "-c", starts, "-m", "aggregator.offload", "7", "20", "text"]
    child = subprocess.Popen([*argv, "clustering"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        tree = process_tree(os.getpid())
        assert tree[child.pid] == "clustering"
        assert tree[grandchild] == "clustering"
    finally:
        child.communicate(b"")
