"""glibc malloc settings and trimming for long-running processes (the daemon and its
parse workers); on any other C library every function here does nothing.

A module of its own so that a worker process can use it without importing the daemon
(uvicorn, the scheduler). Why each setting: see the constants, and bench/soak.py.
"""

from __future__ import annotations

import ctypes
import functools
import os


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (glibc has both; musl has neither)
    except (OSError, AttributeError):  # not glibc
        return None
    return libc


# glibc's mallopt parameters (malloc.h).
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Arenas the daemon's threads share: glibc's default is eight per core, each keeping what
# its threads freed; two hold the same work (bench/soak.py).
ARENA_MAX = 2
# Blocks from this size up are mapped on their own and unmapped when freed. glibc's default
# threshold starts at 128 KB but rises to the size of every such block freed (up to 32 MB),
# after which a rendered feed page or a pass's batch of rows (megabytes, short-lived)
# lands in an arena, between long-lived blocks that keep its pages resident.
MMAP_THRESHOLD = 128 * 1024


def tune_malloc() -> None:
    """Set glibc malloc for a long-running process (glibc only; else nothing): few
    arenas, and large blocks always given back when freed (see the constants above).
    Called once at start-up, before the process's threads exist; what the environment
    sets (``MALLOC_ARENA_MAX``, ``MALLOC_MMAP_THRESHOLD_``) is left as it is."""
    libc = _libc()
    if libc is None:
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(M_ARENA_MAX, ARENA_MAX)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def release_free_memory() -> None:
    """Give the pages malloc holds free back to the system (glibc only; else nothing).

    A pass frees most of what it allocated (feed bodies, rows, a digest's messages), but
    glibc keeps freed memory in its arenas: without this a long-running process's
    resident memory creeps up with every pass (bench/soak.py).
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
