"""The soak's memory dump (``bench/soak.py --dump``): what it reports, written whole."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bench.soak import memory_dump, pymalloc_arenas, read_memory_dump, write_memory_dump


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
