"""Soak: ``aggregator run`` for a set time against loopback feeds that change every minute.

The daemon runs as it does in production (a subprocess, its own worker processes, SQLite
in a temporary folder, a Maildir) against ``--feeds`` feeds served by ``FeedServer`` on
127.0.0.1. Every minute every feed is replaced by new content (a freshly generated
corpus), so each poll finds news; the feeds ask to be polled every minute and a digest
goes out every ``--digest-minutes`` minutes to three readers. Every ``--sample`` seconds
the script records the resident memory of the daemon and of its worker processes (from
``/proc``), and the daemon's own figures from ``/metrics``.

The table's baseline is the first sample after ``--warmup`` seconds (imports done, the
first passes through, worker processes started); the ratio column is each sample's total
memory against it. Memory must stay flat while the database grows: the verdict line
compares the last sample with the baseline (within 20 %, and no steady climb over the
second half of the run).

Run: ``python -m bench.soak [--minutes 10] [--feeds 500] [--sample 30]`` (Linux: reads
``/proc``).

Last recorded: 2026-12-03, 2 cores / 24 GiB (load average about 2 from other work),
``python -m bench.soak --minutes 8`` (500 feeds, 3 to 6 new entries each a minute)::

    minute    daemon MB  workers MB  total MB  entries  fetch errors  sent  mails  ratio
    0.5           135.1        65.7     200.8    2,227             0     3      3  0.80x
    baseline      186.1        66.4     252.5    4,473             0     6      6  1.00x
    3.0           248.6        66.7     315.4    6,753             0     6      6  1.25x
    5.0           313.6        67.4       381   10,735             0     9      9  1.51x
    7.1             445        67.9     512.9   15,290             0    12     12  2.03x
    8.1           520.1        68.1     588.2   17,524             0    15     15  2.33x
    {"requests_served": 4264, "digest_issues_sent": 5, "log_errors": 1, "exit_status": 0}
    memory: NOT flat (+133.0% against the baseline)

Reading: not flat. The worker processes are (66 to 68 MB); the daemon grows with the
entries inside the clustering window, about 30 KB of resident memory per entry here. An
in-process trace of the same loop (tracemalloc, 200 feeds) shows what the daemon keeps
between ticks flat (11 to 12 MB) while each clustering pass peaks in proportion to the
window (16 MB at 870 entries, 59 MB at 5,400): every pass reads the window's entries
and signatures into a new in-memory index, and the allocator keeps the high-water mark.
At this load (2,250 new entries a minute, all inside the 72 h window) that never levels
off; at a realistic few thousand entries a day it does, at the window's size. Keeping
one clusterer across passes (adding new entries, evicting old ones) is the fix still to
make. The one error line was a tick cancelled at shutdown, fixed since (the daemon now
pauses the scheduler and lets the tick finish).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.request import ProxyHandler, build_opener

from bench._table import print_table
from bench.corpus import generate_corpus
from bench.feed_server import FeedServer
from bench.fetch import free_port

LOOPBACK = build_opener(ProxyHandler({}))


@dataclass
class Sample:
    elapsed: float
    daemon_mb: float
    workers_mb: float
    metrics: dict[str, float]
    mails: int

    @property
    def total_mb(self) -> float:
        return self.daemon_mb + self.workers_mb


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB, 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def read_metrics(port: int) -> dict[str, float]:
    """The unlabelled and labelled samples of ``/metrics``, by their full name."""
    try:
        with LOOPBACK.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def write_config(folder: Path, urls: list[str], port: int, server_port: int, digest: int) -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{url}"\n' for url in urls)
    config = folder / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{folder / "soak.db"}"
[fetch]
concurrency = 50
per_host = 50
interval_minutes = 1
min_interval_minutes = 1
max_interval_minutes = 1
allow_hosts = ["127.0.0.1:{server_port}"]
[server]
port = {port}
[mail]
maildir = "{folder / "mail"}"
[schedule]
tick_seconds = 5
{feeds}
[[digests]]
name = "soak"
schedule = "*/{digest} * * * *"
timezone = "UTC"
subscribers = ["a@soak.example", "b@soak.example", "c@soak.example"]
""",
        encoding="utf-8",
    )
    return config


def change_feeds(server: FeedServer, paths: list[str], feeds: int, stop: threading.Event) -> None:
    """Every minute, new content for every feed (a corpus with another seed)."""
    minute = 1
    while not stop.wait(60):
        corpus = generate_corpus(feeds=feeds, entries_per_feed=(3, 6), seed=1000 + minute)
        for path in paths:
            server.set_file(path, corpus.files[path], corpus.content_types.get(path))
        minute += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--sample", type=float, default=30, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=120, help="seconds before the baseline")
    parser.add_argument("--digest-minutes", type=int, default=2)
    args = parser.parse_args()
    corpus = generate_corpus(feeds=args.feeds, entries_per_feed=(3, 6), seed=1000)
    paths = sorted(p for p in corpus.files if p.startswith("feeds/"))
    samples: list[Sample] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FeedServer(
            {p: corpus.files[p] for p in paths}, content_types=corpus.content_types
        ) as server,
    ):
        folder = Path(tmp)
        web_port = free_port()
        config = write_config(
            folder, [server.url(p) for p in paths], web_port, server.port, args.digest_minutes
        )
        log = (folder / "daemon.log").open("w", encoding="utf-8")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "--config", str(config), "run"],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stop = threading.Event()
        changer = threading.Thread(
            target=change_feeds, args=(server, paths, args.feeds, stop), daemon=True
        )
        changer.start()
        started = time.monotonic()
        try:
            while time.monotonic() - started < args.minutes * 60:
                time.sleep(args.sample)
                if daemon.poll() is not None:
                    print(f"the daemon exited early with status {daemon.returncode}")
                    break
                mail = folder / "mail" / "new"
                samples.append(
                    Sample(
                        elapsed=time.monotonic() - started,
                        daemon_mb=rss_mb(daemon.pid),
                        workers_mb=sum(rss_mb(c) for c in children(daemon.pid)),
                        metrics=read_metrics(web_port),
                        mails=len(list(mail.iterdir())) if mail.is_dir() else 0,
                    )
                )
                print(f"  {samples[-1].elapsed:6.0f} s  {samples[-1].total_mb:7.1f} MB", flush=True)
        finally:
            stop.set()
            daemon.send_signal(signal.SIGTERM)
            status = daemon.wait(timeout=120)
            log.close()
        requests = server.stats.requests
        text = (folder / "daemon.log").read_text(encoding="utf-8")
    report(samples, args, requests=requests, status=status, log=text)


def report(
    samples: list[Sample], args: argparse.Namespace, *, requests: int, status: int, log: str
) -> None:
    if not samples:
        print("no samples taken")
        return
    base = next((s for s in samples if s.elapsed >= args.warmup), samples[-1])
    rows: list[dict[str, object]] = []
    for s in samples:
        rows.append(
            {
                "minute": "baseline" if s is base else f"{s.elapsed / 60:.1f}",
                "daemon MB": round(s.daemon_mb, 1),
                "workers MB": round(s.workers_mb, 1),
                "total MB": round(s.total_mb, 1),
                "entries": int(s.metrics.get("aggregator_entries", 0)),
                "fetch errors": int(s.metrics.get("aggregator_feed_errors", 0)),
                "sent": int(s.metrics.get('aggregator_deliveries{state="sent"}', 0)),
                "mails": s.mails,
            }
        )
    print_table(
        f"soak: {args.feeds} feeds changing every minute, {args.minutes:g} min, "
        f"sample every {args.sample:g} s",
        rows,
        baseline="baseline",
        key="minute",
        metric="total MB",
    )
    last = samples[-1]
    half = [s for s in samples if s.elapsed >= last.elapsed / 2]
    climbing = len(half) >= 3 and all(
        b.total_mb > a.total_mb for a, b in zip(half, half[1:], strict=False)
    )
    growth = last.total_mb / base.total_mb - 1 if base.total_mb else 0.0
    flat = abs(growth) <= 0.20 and not climbing
    error_lines = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    errors = len(error_lines)
    print(
        json.dumps(
            {
                "requests_served": requests,
                "digest_issues_sent": last.mails // 3,
                "log_errors": errors,
                "exit_status": status,
                "memory_growth": f"{growth:+.1%}",
            }
        )
    )
    print(f"memory: {'flat' if flat else 'NOT flat'} ({growth:+.1%} against the baseline)")
    lines = log.splitlines()
    for line in error_lines[:5]:
        print(f"log: {line}")
    if "Traceback" in log:  # the first one whole: the daemon survived it, a bug did not
        start = next(i for i, line in enumerate(lines) if "Traceback" in line)
        print("\n".join(lines[max(start - 1, 0) : start + 25]))
    if os.environ.get("SOAK_SHOW_LOG"):
        print(log)


if __name__ == "__main__":
    main()
