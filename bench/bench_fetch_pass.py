"""One polling pass of the whole pipeline over a generated corpus on a loopback server.

Measures ``aggregator.pipeline.refresh_feeds`` + ``cluster_new_entries`` (fetch, parse,
normalize, store in SQLite, cluster) over 40 feeds x 25 entries served with 50 ms of
latency per request, sequentially (the baseline: ``[fetch] concurrency = 1``) and with the
default concurrency, then a second pass where every feed answers 304. Best of 3 runs,
each on a fresh database.

Run: ``python -m bench.bench_fetch_pass [--feeds N] [--entries N] [--latency S]``

Last recorded: 2026-11-23, 2 cores / 24 GiB, ``python -m bench.bench_fetch_pass``::

    polling pass: 40 feeds x 25 entries, 50 ms latency (best of 3)
    variant              seconds  entries  ratio
    -------------------  -------  -------  -----
    sequential (1)         5.256    1,000  1.00x
    concurrent (10)        3.238    1,000  0.62x
    unchanged, 304 (10)    0.438        0  0.08x

Reading: concurrency hides the 2 s of latency, but about 3 s of CPU remains for 1,000
new entries (feedparser, normalization, clustering ~0.7 s); the parsing and clustering
issues own those. A pass where nothing changed costs a tenth of a full one.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aggregator import pipeline
from aggregator.config import Settings, loads
from aggregator.pipeline import sync_config
from aggregator.store import open_store
from bench._table import print_table
from bench.corpus import generate_corpus
from bench.feed_server import FeedServer


def settings_for(folder: Path, server: FeedServer, paths: list[str], concurrency: int) -> Settings:
    feeds = "".join(f'[[feeds]]\nurl = "{server.url(p)}"\n' for p in paths)
    text = (
        f'[storage]\nurl = "sqlite:///{folder / "bench.db"}"\n'
        "[fetch]\nallow_private_networks = true\n"
        f"concurrency = {concurrency}\nper_host = {concurrency}\n" + feeds
    )
    return loads(text, source="bench", base_dir=folder, environ={})


def one_pass(settings: Settings, *, twice: bool) -> tuple[float, int]:
    """Seconds for the (second, if ``twice``) pass, and the entries it stored."""
    store = open_store(settings.storage.url)
    now = datetime.now(UTC)
    sync_config(store, settings, now=now)
    if twice:
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now, due_only=False))
        pipeline.cluster_new_entries(store, settings, now=now)
    start = time.perf_counter()
    outcomes = asyncio.run(pipeline.refresh_feeds(store, settings, now=now, due_only=False))
    pipeline.cluster_new_entries(store, settings, now=now)
    elapsed = time.perf_counter() - start
    store.close()
    errors = [o.error for o in outcomes if o.error]
    if errors:
        raise SystemExit(f"benchmark pass failed: {errors[0]}")
    return elapsed, sum(o.new_entries for o in outcomes)


def best_of(runs: int, settings_factory, twice: bool) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            results.append(one_pass(settings_factory(Path(folder)), twice=twice))
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--entries", type=int, default=25)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    corpus = generate_corpus(feeds=args.feeds, entries_per_feed=args.entries, seed=1)
    paths = sorted(corpus.files)
    rows: list[dict[str, object]] = []
    with FeedServer(
        corpus.files, content_types=corpus.content_types, latency=args.latency
    ) as server:
        for label, concurrency, twice in (
            ("sequential (1)", 1, False),
            ("concurrent (10)", 10, False),
            ("unchanged, 304 (10)", 10, True),
        ):
            seconds, entries = best_of(
                args.runs, lambda f, c=concurrency: settings_for(f, server, paths, c), twice
            )
            rows.append({"variant": label, "seconds": round(seconds, 3), "entries": entries})
    print_table(
        f"polling pass: {args.feeds} feeds x {args.entries} entries, "
        f"{args.latency * 1000:g} ms latency (best of {args.runs})",
        rows,
        baseline="sequential (1)",
        key="variant",
        metric="seconds",
    )


if __name__ == "__main__":
    main()
