"""The delivery ledger against a real SMTP server on 127.0.0.1 that misbehaves on cue.

Every test ends by counting what the server kept: one message per subscriber, and a
second copy only where the server kept a message but the connection died before its
reply, re-sent with the same Message-ID.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aggregator import pipeline
from aggregator.config import Settings, SmtpSettings
from aggregator.deliver import MaildirTransport
from aggregator.errors import DeliveryError
from aggregator.model import DeliveryState
from aggregator.store import Store, open_store
from tests.issues import queue_issue
from tests.loopback import free_port, smtp_server

DIGEST = '[[digests]]\nname = "daily"\ntitle = "Daily news"\n'
LATER = timedelta(hours=7)  # past any back-off


@pytest.fixture
def ledger(make_settings: Callable[..., Settings], database_url: str) -> Any:
    """The store (on every backend, see ``database_url``) and settings over it."""
    settings = make_settings(DIGEST, database_url=database_url)
    store = open_store(settings.storage.url)
    yield store, settings
    store.close()


def over_smtp(settings: Settings, port: int) -> Settings:
    smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False, timeout=5)
    return replace(settings, mail=replace(settings.mail, transport="smtp", smtp=smtp))


def queue(store: Store, now: datetime, readers: int) -> int:
    for n in range(readers):
        store.add_subscriber("daily", f"r{n}@x.example", now=now)
    return queue_issue(store, now)


def copies(server: Any) -> Counter[str]:
    return Counter(rcpt for _, rcpts in server.collector.envelopes for rcpt in rcpts)


def states(store: Store, issue_id: int) -> dict[str, DeliveryState]:
    return {d.email: d.state for d in store.issue_deliveries(issue_id)}


@pytest.mark.parametrize("code", ["421", "451"])
def test_a_4xx_on_the_third_message_retries_only_that_one(
    ledger: Any, now: datetime, code: str
) -> None:
    store, settings = ledger
    issue = queue(store, now, 5)
    with smtp_server(fault=lambda n: code if n == 3 else None) as server:
        settings = over_smtp(settings, server.port)
        started = time.monotonic()
        first = pipeline.deliver_pending(store, settings, now=now)
        took = timedelta(seconds=time.monotonic() - started)
        assert (first.sent, first.retrying, first.failed) == (4, 1, 0)
        (waiting,) = [d for d in store.issue_deliveries(issue) if d.state is DeliveryState.PENDING]
        assert code in waiting.last_error
        # Back-off from when it failed: the pass's clock moves on from the ``now`` given.
        assert waiting.next_attempt_at is not None
        assert (
            now + pipeline.RETRY_BASE <= waiting.next_attempt_at <= now + took + pipeline.RETRY_BASE
        )
        assert pipeline.deliver_pending(store, settings, now=now).sent == 0  # not due yet
        assert pipeline.deliver_pending(store, settings, now=now + LATER).sent == 1
    assert copies(server) == {f"r{n}@x.example": 1 for n in range(5)}
    assert set(states(store, issue).values()) == {DeliveryState.SENT}


def test_a_550_for_one_reader_is_recorded_and_the_others_go_out(ledger: Any, now: datetime) -> None:
    store, settings = ledger
    issue = queue(store, now, 4)
    refuse = {"r1@x.example": 550}
    with smtp_server(reject=refuse.get) as server:
        settings = over_smtp(settings, server.port)
        report = pipeline.deliver_pending(store, settings, now=now)
        assert (report.sent, report.retrying, report.failed) == (3, 0, 1)
        assert pipeline.deliver_pending(store, settings, now=now + LATER).sent == 0  # never retried
    assert copies(server) == {"r0@x.example": 1, "r2@x.example": 1, "r3@x.example": 1}
    failed = {d.email: d.last_error for d in store.issue_deliveries(issue) if d.state == "failed"}
    assert list(failed) == ["r1@x.example"] and "550" in failed["r1@x.example"]


def test_a_connection_cut_mid_data_is_retried_and_arrives_once(ledger: Any, now: datetime) -> None:
    store, settings = ledger
    issue = queue(store, now, 4)
    with smtp_server(fault=lambda n: "drop" if n == 2 else None) as server:
        settings = over_smtp(settings, server.port)
        report = pipeline.deliver_pending(store, settings, now=now)
        assert (report.sent, report.retrying) == (3, 1)  # the next message reconnected
        assert pipeline.deliver_pending(store, settings, now=now + LATER).sent == 1
    assert copies(server) == {f"r{n}@x.example": 1 for n in range(4)}
    assert set(states(store, issue).values()) == {DeliveryState.SENT}


def test_a_reply_lost_after_data_is_the_one_duplicate_and_has_the_same_message_id(
    ledger: Any, now: datetime
) -> None:
    store, settings = ledger
    queue(store, now, 3)
    with smtp_server(fault=lambda n: "keep-and-drop" if n == 2 else None) as server:
        settings = over_smtp(settings, server.port)
        pipeline.deliver_pending(store, settings, now=now)
        pipeline.deliver_pending(store, settings, now=now + LATER)
    # The second DATA is r1's or r2's, whichever of the pool's connections got there first.
    counts = copies(server)
    assert set(counts) == {"r0@x.example", "r1@x.example", "r2@x.example"}
    assert sorted(counts.values()) == [1, 1, 2]
    (reader,) = [reader for reader, count in counts.items() if count == 2]
    twice = [m["Message-ID"] for m in server.collector.messages if m["To"] == reader]
    assert len(twice) == 2 and twice[0] == twice[1]  # a mail client folds the two
    ids = [m["Message-ID"] for m in server.collector.messages]
    assert len(set(ids)) == 3


def test_a_server_down_at_start_defers_everyone_then_all_go_out(ledger: Any, now: datetime) -> None:
    store, settings = ledger
    issue = queue(store, now, 6)
    port = free_port()
    settings = over_smtp(settings, port)  # nothing listens there yet
    report = pipeline.deliver_pending(store, settings, now=now)
    assert (report.sent, report.retrying, report.failed) == (0, 6, 0)
    rows = store.issue_deliveries(issue)
    assert {d.state for d in rows} == {DeliveryState.PENDING}
    assert sum(d.attempts for d in rows) == 1  # one knock on the door, not six
    assert all("cannot connect" in d.last_error for d in rows)
    assert store.due_deliveries(now) == []
    with smtp_server(port=port) as server:
        assert pipeline.deliver_pending(store, settings, now=now + LATER).sent == 6
    assert copies(server) == {f"r{n}@x.example": 1 for n in range(6)}


def test_a_delivery_that_keeps_failing_gives_up_after_max_attempts(
    ledger: Any, now: datetime
) -> None:
    store, settings = ledger
    issue = queue(store, now, 1)
    with smtp_server(fault=lambda n: "451") as server:
        settings = over_smtp(settings, server.port)
        when = now
        for _ in range(pipeline.MAX_ATTEMPTS):
            pipeline.deliver_pending(store, settings, now=when)
            when += LATER
    (row,) = store.issue_deliveries(issue)
    assert row.state is DeliveryState.FAILED and row.attempts == pipeline.MAX_ATTEMPTS
    assert f"gave up after {pipeline.MAX_ATTEMPTS}" in row.last_error
    assert server.collector.data_commands == pipeline.MAX_ATTEMPTS


def test_backoff_doubles_up_to_a_ceiling() -> None:
    delays = [pipeline.retry_delay(n) for n in range(1, 9)]
    assert delays[:4] == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert delays[-1] == pipeline.RETRY_MAX and delays == sorted(delays)


def test_a_crashed_sender_s_delivery_is_resent_after_its_lease_with_the_same_id(
    ledger: Any, now: datetime
) -> None:
    store, settings = ledger
    issue = queue(store, now, 2)
    (first,) = store.claim_deliveries(now=now, limit=1)  # a sender claimed it, then died
    with smtp_server() as server:
        settings = over_smtp(settings, server.port)
        assert pipeline.deliver_pending(store, settings, now=now).sent == 1  # within the lease
        assert states(store, issue)[first.email] is DeliveryState.SENDING
        lease = timedelta(seconds=settings.mail.sending_lease_seconds + 1)
        assert pipeline.deliver_pending(store, settings, now=now + lease).sent == 1
    assert copies(server) == {"r0@x.example": 1, "r1@x.example": 1}
    assert set(states(store, issue).values()) == {DeliveryState.SENT}


def test_a_refused_sender_address_defers_everyone_instead_of_failing_them(
    ledger: Any, now: datetime
) -> None:
    store, settings = ledger
    issue = queue(store, now, 3)
    refuse = {"digest@localhost": 553}
    with smtp_server(reject=refuse.get) as server:
        settings = over_smtp(settings, server.port)
        report = pipeline.deliver_pending(store, settings, now=now)
    assert (report.sent, report.retrying, report.failed) == (0, 3, 0)
    rows = store.issue_deliveries(issue)
    assert {d.state for d in rows} == {DeliveryState.PENDING}
    assert all("refused our sender address" in d.last_error for d in rows)


def test_a_maildir_that_cannot_take_messages_defers_the_batch(
    ledger: Any, now: datetime, tmp_path: Path
) -> None:
    store, settings = ledger
    issue = queue(store, now, 3)
    box = Path(settings.mail.maildir)
    (box / "tmp").mkdir(parents=True)
    # new/ on another file system: the rename into it fails (EXDEV), even for root.
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(box.parent).st_dev:
        pytest.skip("needs /dev/shm on a file system of its own")
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        (box / "new").symlink_to(elsewhere, target_is_directory=True)
        report = pipeline.deliver_pending(store, settings, now=now)
    finally:
        shutil.rmtree(elsewhere)
    assert (report.sent, report.retrying) == (0, 3)
    rows = store.issue_deliveries(issue)
    assert sum(d.attempts for d in rows) == 1 and all("cannot write" in d.last_error for d in rows)


def test_a_maildir_that_fills_midway_costs_one_attempt_and_records_the_rest(
    ledger: Any, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Maildir writes a window of messages before their commit: the one that fails
    stops the window there, and the ones written before it are recorded sent."""
    store, settings = ledger
    issue = queue(store, now, 40)
    write = MaildirTransport.send
    tries = 0

    def fills_up(self: MaildirTransport, message: Any, *, key: str) -> None:
        nonlocal tries
        tries += 1
        if tries >= 10:
            raise DeliveryError("r@x.example", "cannot write (No space left)", unreachable=True)
        write(self, message, key=key)

    monkeypatch.setattr(MaildirTransport, "send", fills_up)
    report = pipeline.deliver_pending(store, settings, now=now)
    assert (report.sent, report.retrying, report.failed) == (9, 31, 0)
    rows = store.issue_deliveries(issue)
    assert sum(d.attempts for d in rows) == 10
    assert sum(d.state is DeliveryState.SENT for d in rows) == 9
    assert len(list((Path(settings.mail.maildir) / "new").iterdir())) == 9


def test_the_stdout_preview_prints_each_message_and_the_ledger_marks_them_sent(
    ledger: Any, now: datetime, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    store, settings = ledger
    issue = queue(store, now, 2)
    settings = replace(settings, mail=replace(settings.mail, transport="stdout"))
    assert pipeline.deliver_pending(store, settings, now=now).sent == 2
    out = capsysbinary.readouterr().out
    assert out.startswith(b"From digest@localhost (i")
    assert out.count(b"\nMessage-ID: <digest.") == 2
    assert b"\nTo: r0@x.example\n" in out and b"\nTo: r1@x.example\n" in out
    assert b"\r\n" not in out  # a terminal's line ends
    assert set(states(store, issue).values()) == {DeliveryState.SENT}
