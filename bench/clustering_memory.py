"""The clustering child's memory, pass after pass, without a 40-minute soak.

``bench/soak.py`` runs the daemon for real and sees the clustering process
(:class:`aggregator.offload.ClusteringProcess`) only from outside: its resident memory once
a minute. This runs the same child (:func:`aggregator.offload.serve`, unchanged but for
what it reports after each pass) against a store fed the way the soak feeds the daemon,
in simulated time: ``--feeds`` loopback feeds with new content every simulated minute,
polled as they fall due in steps of ``--tick`` simulated seconds (the daemon's tick), the
clustering window ``--window-minutes`` long; after every step with new entries the child
clusters them, exactly as the daemon asks it to. The fetching runs in this process; the
child reports, after each pass: resident memory (all, and anonymous: what no file backs),
pymalloc's arenas, Python's allocated blocks, glibc malloc's bytes in use and free, the
entries its standing clusterer holds and how many it has read from the store and placed
again so far (``StandingClusterer.replaced``). ``--verbose`` prints every pass that moved
the arenas; ``--late`` sets ``aggregator.cluster.LATE`` in the child (0: as before);
``--child-env`` sets the child's environment (``PYTHONMALLOC=malloc``, ``LD_PRELOAD``).

The table has one row a simulated minute (the last pass of it); the baseline is the
minute after the window filled. The child is never restarted (what it grows by is what a
restart would hide) unless ``--recycle``: then as the daemon does, once a pass leaves it
``RECYCLE_GROWTH`` above its memory after its first pass.

Run: ``python -m bench.clustering_memory [--minutes 30] [--feeds 500]`` (Linux, glibc).
A run of 40 simulated minutes takes about three minutes.

Recorded on 2026-12-07 (15:25 to 16:05 UTC, 2 shared cores, load under 2), 40 simulated
minutes each unless said, figures at minutes 6 and 39 (the window full from minute 4):

- main (7f6def6), two runs: RSS 100.2 MB at minute 3 (46 arenas), 128.9 at 6 (70),
  128.9 at 39 (68); 112.4 at 5 (54) -> 120.9 at 30 (60). Steps of 4 to 11 arenas in
  single passes, not a slope: ``--verbose`` tied each to a pass that read
  from the store and placed again 1,700 to 3,900 entries the index had dropped (a batch
  whose oldest entry was older than the last batch's; see ``aggregator.cluster.LATE``).
  In a pass with the window's 9,000 entries the child's RSS peaked about 50 MB above
  its level (numpy's band arrays, given back at once).
- pymalloc's size classes (``sys._debugmallocstats``, minute 9 -> 39): 881 unused pools
  (14 MB) inside arenas kept by a live block; the 224-byte class (sets: marked_numbers'
  dict of sets, the years frozensets) and the 112-byte class (``_Target``) grew most.
- Tried and not taken: emptying signing's memos after every pass (the same steps: 111.3
  MB, 53 arenas at minute 6 -> 128.3, 68 at 39); ``PYTHONMALLOC=malloc`` (worse: glibc
  kept 28 MB of free fragments after ``malloc_trim``, RSS 112 -> 136 at minute 19);
  jemalloc with it (130 -> 150, noisier).
- Title facts of shared objects (commit 59df5a0): 45,000 fewer blocks (510k -> 465k);
  the steps stayed.
- ``--late 0`` against ``LATE = 0.5`` (both with the facts change, run side by side):
  29,370 entries re-placed in 355 passes, arenas 48 -> 64, RSS 105.8 -> 125.0 (+18 %),
  against 446 re-placed, arenas 49 -> 51 (level from minute 15), RSS 109.4 -> 117.0
  (113 to 117 as the index holds 9,000 to 14,700 entries through its drop cycle). A
  pass took 0.278 s on average against 0.274. ``--late 0.25``: one re-placement of
  2,276 entries at minute 20 (+7 arenas).
- ``--recycle`` (the daemon's restart rule) at the 8 % bound then in force: the child
  restarted at minutes 2 and 6, each rebuilt child larger than the last (119.4 MB with
  68 arenas, then 128.7 with 75, 135.3 at minute 40): a rebuild placed the whole window
  in one call. Placed a chunk at a time (``cluster.PLACE_CHUNK``): rebuilt children at
  92 to 100 MB (41 to 44 arenas), but restarted 24 times, the index's normal course
  (the window, half a window before it, a quarter dropped at a time) being more than
  8 % above a rebuild's first pass. With the rebuild holding that half window too and
  the bound at 25 % (``offload.RECYCLE_GROWTH``): one restart, at minute 7 as the young
  window filled; 102.7 MB (46 arenas) at minute 8, 105 to 112.4 (47 to 48) from minute
  11 to 38.

Recorded on 2026-12-07 (18:13 to 18:30 UTC, load 0.7 to 4.9: the two runs side by side,
then a soak), which of sign4's changes moved the child after the merge: flat3's tip
(afa9d98) against the merge (a51eae0), 40 simulated minutes each, then main (bda246d)
for 70. RSS MB (pymalloc arenas) at minutes 5, 10, 20, 30 and 40::

    flat3 (afa9d98)   101.2 (44)  109.5 (47)  110.2 (48)  111.2 (48)  111.6 (48)
    merge (a51eae0)   103.9 (44)  112.2 (47)  111.2 (48)  114.9 (48)  115.0 (48)
    main, 70 min      103.4 (44)  111.2 (47)  113.7 (48)  116.3 (48)  116.4 (48)
                      and 116.1 (48), 116.4 (48), 116.2 (48) at minutes 50, 60 and 70

Neither creeps: the arenas stay at 48 from minute 20, and every run reaches its level by
minute 30 and holds it (main: 114.9 to 116.8 MB from minute 27 to 70, glibc's bytes in use
36.5 to 38.8 MB). The merge sits about 3 MB above flat3 (glibc's bytes in use, not
pymalloc's arenas: the sorted LSH keys kept with their rows). What moves the level until
minute 30 is the poll schedule settling: the feeds' jitter spreads the polls from 6
passes a minute at first to 12, smaller batches reach the index's most (``in memory``
peaks at 13,500 entries to minute 24, then 14,700 from minute 29 on), and a second
half that begins before minute 30 (a 40- or 45-minute soak) sees that last step as a
trend. The soak of main after the merges (1e3ada6: the clustering process 108 to 110
MB to minute 25, 111 to 113 after) was that step, not a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import time
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import TYPE_CHECKING

from aggregator.offload import RECYCLE_GROWTH
from bench._table import print_table
from bench.soak import feed_files, native_mb, pymalloc_arenas, rss_mb, simulated_store

if TYPE_CHECKING:
    from aggregator.cluster.standing import StandingClusterer


def child_figures(standing: list[StandingClusterer]) -> dict[str, object]:
    """What the child reports after each pass, in place of its resident MB: its memory,
    and how many entries the pass placed again from the store (``"re-placed"``)."""
    pid = os.getpid()
    return {
        "RSS MB": round(rss_mb(pid), 1),
        "anon MB": round(rss_mb(pid, "RssAnon:"), 1),
        "arenas": pymalloc_arenas(),
        "blocks": sys.getallocatedblocks(),
        **native_mb(),
        "in memory": standing[0].entries if standing else 0,
        "re-placed": standing[0].replaced if standing else 0,
    }


def child(connection: Connection) -> None:
    """The daemon's clustering child (``offload.serve``), reporting :func:`child_figures`."""
    from aggregator import cluster, offload
    from aggregator.cluster import standing

    made: list[StandingClusterer] = []

    class Reported(standing.StandingClusterer):
        """The standing clusterer, where :func:`child_figures` finds it."""

        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    standing.StandingClusterer = Reported  # type: ignore[misc]
    if os.environ.get("BENCH_LATE"):  # --late: what the index keeps before the window
        cluster.LATE = float(os.environ["BENCH_LATE"])
    offload.resident_mb = lambda: child_figures(made)  # type: ignore[assignment,return-value]
    offload.serve(connection)


def run(args: argparse.Namespace) -> None:
    from aggregator import daemon, pipeline

    rows: list[dict[str, object]] = []
    with simulated_store(args) as (paths, server, settings, store, now):
        start = now

        def start_child() -> tuple[Connection, SpawnProcess]:
            ours, theirs = multiprocessing.get_context("spawn").Pipe()
            process = multiprocessing.get_context("spawn").Process(target=child, args=(theirs,))
            saved = dict(os.environ)
            os.environ.update(dict(item.split("=", 1) for item in args.child_env))
            if args.late is not None:
                os.environ["BENCH_LATE"] = str(args.late)
            process.start()  # spawn: the child takes the environment as it is now
            os.environ.clear()
            os.environ.update(saved)
            return ours, process

        ours, process = start_child()
        reference: float | None = None  # the child's RSS after its first pass (--recycle)
        steps_a_minute = round(60 / args.tick)
        figures: dict[str, object] = {}
        passes = restarts = 0
        seconds = 0.0
        try:
            for step in range(int(args.minutes * steps_a_minute)):
                if step % steps_a_minute == 0:
                    minute = step // steps_a_minute
                    for path, (data, kind) in feed_files(
                        args.feeds, 1000 + minute, paths, now
                    ).items():
                        server.set_file(path, data, kind)
                asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
                if store.unclustered_entries(limit=1):
                    began = time.perf_counter()
                    ours.send(("cluster", settings, now, {"batch": daemon.CLUSTER_BATCH}))
                    before = figures.get("arenas")
                    ok, result, figures = ours.recv()
                    seconds += time.perf_counter() - began
                    if not ok:
                        raise RuntimeError(result)
                    passes += 1
                    resident = float(figures["RSS MB"])  # type: ignore[arg-type]
                    reference = reference or resident
                    if args.recycle and resident > reference * (1 + RECYCLE_GROWTH):
                        # What ClusteringProcess does: stopped, the next pass starts another.
                        ours.close()
                        process.join(timeout=30)
                        ours, process = start_child()
                        reference = None
                        restarts += 1
                        print(f"  restarted at {step * args.tick / 60:.1f} min, {resident} MB")
                    if args.verbose and figures.get("arenas") != before:
                        minutes = step * args.tick / 60
                        print(f"  pass {passes} at {minutes:.1f} min placed {result}: {figures}")
                if step % steps_a_minute == steps_a_minute - 1:
                    rows.append(
                        {
                            "minute": f"{(now - start).total_seconds() / 60:.0f}",
                            "passes": passes,
                            "restarts": restarts,
                            "pass s": round(seconds / max(passes, 1), 3),
                            **figures,
                            "entries": store.count_entries(),
                        }
                    )
                    print(rows[-1], flush=True)
                now += timedelta(seconds=args.tick)
        finally:
            ours.close()
            process.join(timeout=30)
    baseline = min(int(args.window_minutes) + 2, len(rows)) - 1
    print_table(
        f"clustering child: {args.feeds} feeds, {args.minutes:g} simulated minutes, a pass "
        f"every {args.tick:g} s with news, window {args.window_minutes:g} min",
        rows,
        baseline=str(rows[baseline]["minute"]),
        key="minute",
        metric="RSS MB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30, help="simulated minutes")
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--tick", type=float, default=5, help="simulated seconds a step")
    parser.add_argument("--window-minutes", type=float, default=3)
    parser.add_argument(
        "--late", type=float, help="aggregator.cluster.LATE in the child (0: as before 12-07)"
    )
    parser.add_argument(
        "--recycle",
        action="store_true",
        help="restart the child as the daemon does (RECYCLE_GROWTH above its first pass)",
    )
    parser.add_argument("--verbose", action="store_true", help="every pass that moved the arenas")
    parser.add_argument("--digest-minutes", type=int, default=2)
    parser.add_argument(
        "--child-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set in the child's environment only (e.g. PYTHONMALLOC=malloc)",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
