"""Exactly once across kill -9: `aggregator digest send` is killed in the middle of a
500-reader issue, started again, and then every reader holds exactly one copy.

The sender runs as a real subprocess against a real SQLite file, into a Maildir or a
real SMTP server on 127.0.0.1. Over SMTP a duplicate is possible (a message the
server accepted just before the kill, whose OK the ledger never recorded), and it must
carry the same Message-ID: at most one per connection, since a connection starts its
next message only once the ledger has committed the last one's outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from aggregator.model import DeliveryState
from aggregator.store import open_store
from tests.issues import queue_issue
from tests.loopback import smtp_server

ROOT = Path(__file__).resolve().parents[2]
READERS = 500
KILL_AFTER = 150


def prepare(tmp_path: Path, mail: str) -> str:
    """The config (``mail``: more of [mail], and tables after it) and 500 pending deliveries."""
    url = f"sqlite:///{tmp_path / 'agg.db'}"
    (tmp_path / "config.toml").write_text(
        f'[storage]\nurl = "{url}"\n'
        # No other sender runs here: the restart takes over the killed one's claim at once.
        "[mail]\nsending_lease_seconds = 0\n"
        f"{mail}\n"
        '[[digests]]\nname = "daily"\ntitle = "Daily news"\n',
        encoding="utf-8",
    )
    store = open_store(url)
    now = datetime.now(UTC)
    for n in range(READERS):
        store.add_subscriber("daily", f"r{n:03}@x.example", now=now)
    queue_issue(store, now)
    store.close()
    return url


def send(tmp_path: Path, *, stderr: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "aggregator", "--config", str(tmp_path / "config.toml")]
        + ["digest", "send", "daily"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
    )


def kill_midway(tmp_path: Path, delivered: Any) -> int:
    sender = send(tmp_path)
    deadline = time.monotonic() + 60
    while delivered() < KILL_AFTER and time.monotonic() < deadline and sender.poll() is None:
        time.sleep(0.002)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait(timeout=10)
    at_kill = delivered()
    assert sender.returncode == -signal.SIGKILL, "the sender ended before it could be killed"
    assert KILL_AFTER <= at_kill < READERS, at_kill
    return at_kill


def finish(tmp_path: Path, url: str) -> None:
    again = send(tmp_path, stderr=subprocess.PIPE)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()
    store = open_store(url)
    try:
        assert store.delivery_counts() == {DeliveryState.SENT.value: READERS}
    finally:
        store.close()


def test_maildir_after_kill_9_every_reader_has_exactly_one_copy(tmp_path: Path) -> None:
    box = tmp_path / "mail"
    url = prepare(tmp_path, f'maildir = "{box}"')

    def delivered() -> int:
        return len(os.listdir(box / "new")) if (box / "new").is_dir() else 0

    kill_midway(tmp_path, delivered)
    finish(tmp_path, url)
    readers = Counter(
        message_from_bytes(p.read_bytes(), policy=policy.default)["To"]
        for p in (box / "new").iterdir()
    )
    assert len(readers) == READERS and set(readers.values()) == {1}
    assert list((box / "tmp").iterdir()) == []  # a half-written file never shows


@pytest.mark.parametrize(("connections", "at_most_twice"), [(1, 1), (4, 4)])
def test_smtp_after_kill_9_nobody_is_skipped_and_a_resend_keeps_its_message_id(
    tmp_path: Path, connections: int, at_most_twice: int
) -> None:
    with smtp_server() as server:
        smtp = (
            f'[mail.smtp]\nhost = "127.0.0.1"\nport = {server.port}\nstarttls = false\n'
            f"connections = {connections}"
        )
        url = prepare(tmp_path, f'transport = "smtp"\n{smtp}')
        kill_midway(tmp_path, lambda: len(server.collector.messages))
        finish(tmp_path, url)
        messages = list(server.collector.messages)
    ids: defaultdict[str, set[str]] = defaultdict(set)
    copies: Counter[str] = Counter()
    for message in messages:
        copies[message["To"]] += 1
        ids[message["To"]].add(message["Message-ID"])
    assert len(copies) == READERS  # nobody skipped
    twice = [reader for reader, count in copies.items() if count > 1]
    assert len(twice) <= at_most_twice and max(copies.values()) <= 2
    assert all(len(found) == 1 for found in ids.values())  # a resend is the same message
