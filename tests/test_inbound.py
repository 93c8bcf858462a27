"""Unsubscribing by mail: the mailto: of List-Unsubscribe, answered into a real Maildir
and read by the daemon's tick and by ``aggregator subscribers process-unsubscribes``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from click.testing import CliRunner

from aggregator import pipeline
from aggregator.cli import cli
from aggregator.config import Settings
from aggregator.daemon import run_tick
from aggregator.inbound import INVALID_FOLDER
from aggregator.store import Store, open_store
from tests.issues import queue_issue

DIGEST = '[[digests]]\nname = "daily"\ntitle = "Daily news"\n'


@pytest.fixture
def settings(make_settings: Callable[..., Settings], tmp_path: Path) -> Settings:
    return make_settings(
        f'unsubscribe_address = "leave@agg.example"\n'
        f'unsubscribe_maildir = "{tmp_path / "unsub"}"\n'
        '[publish]\nbase_url = "https://agg.example"\n' + DIGEST
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = open_store(settings.storage.url)
    yield store
    store.close()


def delivered(store: Store, settings: Settings, now: datetime, email: str) -> EmailMessage:
    """A digest sent through the Maildir transport to ``email``, as the reader got it."""
    store.add_subscriber("daily", email, now=now)
    queue_issue(store, now)
    pipeline.deliver_pending(store, settings, now=now)
    for path in (Path(settings.mail.maildir) / "new").iterdir():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == email:
            return message  # type: ignore[return-value]
    raise AssertionError(f"no digest for {email}")


def mailto_of(digest: EmailMessage) -> tuple[str, str]:
    """(address, subject) of the digest's List-Unsubscribe mailto:, as a client reads it."""
    header = str(digest["List-Unsubscribe"])
    mailto = next(p.strip(" <>") for p in header.split(",") if "mailto:" in p)
    parts = urlsplit(mailto)
    return unquote(parts.path), parse_qs(parts.query)["subject"][0]


def drop(settings: Settings, name: str, message: EmailMessage | bytes) -> Path:
    """Deliver ``message`` as a mail server would: into tmp/, then renamed into new/."""
    root = Path(settings.mail.unsubscribe_maildir)
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    data = message if isinstance(message, bytes) else message.as_bytes(policy=policy.SMTP)
    (root / "tmp" / name).write_bytes(data)
    (root / "tmp" / name).rename(root / "new" / name)
    return root / "new" / name


def reply(to: str, subject: str, sender: str = "reader@x.example") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content("Sent from my phone\n")
    return message


def folder(settings: Settings, *parts: str) -> list[str]:
    path = Path(settings.mail.unsubscribe_maildir).joinpath(*parts)
    return sorted(p.name for p in path.iterdir()) if path.is_dir() else []


def test_a_mailed_request_unsubscribes_at_once_and_moves_to_cur(
    store: Store, settings: Settings, now: datetime
) -> None:
    digest = delivered(store, settings, now, "reader@x.example")
    address, subject = mailto_of(digest)
    assert address == "leave@agg.example" and subject.startswith("unsubscribe ")
    drop(settings, "1764000000.M1P1.mx", reply(address, subject))
    report = pipeline.process_unsubscribe_mail(store, settings, now=now)
    assert (report.unsubscribed, report.invalid, report.retry) == (1, 0, 0)
    assert store.list_subscribers("daily") == []
    assert folder(settings, "new") == []
    assert folder(settings, "cur") == ["1764000000.M1P1.mx:2,S"]
    queue_issue(store, now)  # the next issue is not for them
    assert store.due_deliveries(now) == []
    again = pipeline.process_unsubscribe_mail(store, settings, now=now)
    assert again.unsubscribed == 0  # a processed message is not read twice


def test_a_reply_with_an_encoded_subject_or_a_plus_address_works_too(
    store: Store, settings: Settings, now: datetime
) -> None:
    store.add_subscriber("daily", "a@x.example", now=now)
    store.add_subscriber("daily", "b@x.example", now=now)
    a, b = (s for s in store.list_subscribers("daily"))
    signer = pipeline.token_signer(store, now=now)
    # "Re: " and a non-ASCII word make the client send an RFC 2047 subject.
    drop(
        settings,
        "1.M1.mx",
        reply("leave@agg.example", f"Re: hủy unsubscribe {signer.unsubscribe_token(a.id)}"),
    )
    drop(settings, "2.M2.mx", reply(f"leave+{signer.unsubscribe_token(b.id)}@agg.example", "bye"))
    assert b"=?utf-8?" in (Path(settings.mail.unsubscribe_maildir) / "new" / "1.M1.mx").read_bytes()
    report = pipeline.process_unsubscribe_mail(store, settings, now=now)
    assert report.unsubscribed == 2
    assert store.list_subscribers("daily") == []


def test_invalid_requests_are_logged_and_set_aside_and_nobody_is_unsubscribed(
    store: Store, settings: Settings, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    digest = delivered(store, settings, now, "reader@x.example")
    address, subject = mailto_of(digest)
    (subscriber,) = store.list_subscribers("daily")
    forged = f"unsubscribe {subscriber.id}.0.AAAAAAAAAAAAAAAAAAAAAA"
    # A bounce quotes the digest, List-Unsubscribe and all, in its body: not a request.
    bounce = reply(address, "Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@mx")
    bounce.set_content(f"List-Unsubscribe: {digest['List-Unsubscribe']}\nSubject: {subject}\n")
    drop(settings, "1.M1.mx", reply(address, forged))
    drop(settings, "2.M2.mx", reply(address, "please take me off your list"))
    drop(settings, "3.M3.mx", bounce)
    drop(settings, "4.M4.mx", b"\xff\xfe not a message at all \x00\r\n\r\n")
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        report = pipeline.process_unsubscribe_mail(store, settings, now=now)
    assert (report.unsubscribed, report.invalid) == (0, 4)
    assert store.list_subscribers("daily") == [subscriber]
    assert folder(settings, "new") == [] and folder(settings, "cur") == []
    assert folder(settings, INVALID_FOLDER, "new") == ["1.M1.mx", "2.M2.mx", "3.M3.mx", "4.M4.mx"]
    set_aside = [r.getMessage() for r in caplog.records if "set aside" in r.getMessage()]
    assert len(set_aside) == 4 and "not valid" in set_aside[0]


def test_a_token_for_a_removed_subscriber_is_set_aside(
    store: Store, settings: Settings, now: datetime
) -> None:
    signer = pipeline.token_signer(store, now=now)
    drop(
        settings,
        "1.M1.mx",
        reply("leave@agg.example", f"unsubscribe {signer.unsubscribe_token(999)}"),
    )
    report = pipeline.process_unsubscribe_mail(store, settings, now=now)
    assert report.invalid == 1 and folder(settings, INVALID_FOLDER, "new") == ["1.M1.mx"]


def test_the_daemon_tick_reads_the_maildir_before_sending(
    store: Store, settings: Settings, now: datetime
) -> None:
    digest = delivered(store, settings, now, "reader@x.example")
    drop(settings, "1.M1.mx", reply(*mailto_of(digest)))
    queue_issue(store, now)  # an issue waiting to be sent: the request must win
    asyncio.run(run_tick(store, settings))
    assert store.list_subscribers("daily") == []
    assert folder(settings, "cur") == ["1.M1.mx:2,S"]
    mails = list((Path(settings.mail.maildir) / "new").iterdir())
    assert len(mails) == 1  # only the first digest: the queued one was cancelled


def test_an_unreadable_maildir_never_stops_the_tick(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    now: datetime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = make_settings(f'unsubscribe_maildir = "{blocker}"\n' + DIGEST)
    store = open_store(settings.storage.url)
    try:
        store.add_subscriber("daily", "reader@x.example", now=now)
        queue_issue(store, now)
        with caplog.at_level(logging.WARNING, logger="aggregator"):
            asyncio.run(run_tick(store, settings))
        assert any("unsubscribe Maildir" in r.getMessage() for r in caplog.records)
        assert len(list((Path(settings.mail.maildir) / "new").iterdir())) == 1  # still sent
    finally:
        store.close()


def test_the_cli_processes_the_maildir_once(
    store: Store, settings: Settings, now: datetime
) -> None:
    digest = delivered(store, settings, now, "reader@x.example")
    drop(settings, "1.M1.mx", reply(*mailto_of(digest)))
    drop(settings, "2.M2.mx", reply("leave@agg.example", "hello"))
    result = CliRunner().invoke(
        cli, ["--config", settings.config_path, "subscribers", "process-unsubscribes"]
    )
    assert result.exit_code == 0, result.output
    assert "unsubscribed: 1, set aside as invalid: 1" in result.output
    assert store.list_subscribers("daily") == []


def test_the_cli_says_when_there_is_no_maildir_to_read(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(DIGEST)
    result = CliRunner().invoke(
        cli, ["--config", settings.config_path, "subscribers", "process-unsubscribes"]
    )
    assert result.exit_code == 1 and "unsubscribe_maildir" in result.output
