"""Transports against real parts: aiosmtpd on 127.0.0.1 and a Maildir in tmp_path."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from aggregator.config import SmtpSettings
from aggregator.deliver import MaildirTransport, SmtpTransport
from aggregator.errors import DeliveryError
from tests.loopback import free_port, smtp_server


def message(to: str, subject: str = "Daily digest") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "digest@example.org"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Hello")
    return msg


def test_maildir_delivers_once_per_key(tmp_path: Path) -> None:
    with MaildirTransport(tmp_path / "Mail") as box:
        box.send(message("a@x.example"), key="i1s1")
        box.send(message("a@x.example"), key="i1s1")  # a retry after a crash
        box.send(message("b@x.example"), key="i1s2")
    delivered = sorted(p.name.split(".")[0] for p in (tmp_path / "Mail" / "new").iterdir())
    assert delivered == ["i1s1", "i1s2"]
    assert list((tmp_path / "Mail" / "tmp").iterdir()) == []


def test_maildir_sees_messages_a_reader_moved_to_cur(tmp_path: Path) -> None:
    with MaildirTransport(tmp_path / "Mail") as box:
        box.send(message("a@x.example"), key="i2s1")
        (new,) = (tmp_path / "Mail" / "new").iterdir()
        new.rename(tmp_path / "Mail" / "cur" / f"{new.name}:2,S")
        box.send(message("a@x.example"), key="i2s1")
    assert list((tmp_path / "Mail" / "new").iterdir()) == []


def test_maildir_that_cannot_be_created_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with (
        pytest.raises(DeliveryError, match="cannot create the Maildir"),
        MaildirTransport(blocker / "Mail"),
    ):
        pass


def test_smtp_sends_many_messages_on_one_connection() -> None:
    with smtp_server() as server:
        settings = SmtpSettings(host="127.0.0.1", port=server.port, starttls=False)
        with SmtpTransport(settings) as transport:
            for n in range(3):
                transport.send(message(f"r{n}@x.example", subject=f"Issue {n}"), key=f"k{n}")
        received = server.collector.messages
        assert [m["Subject"] for m in received] == ["Issue 0", "Issue 1", "Issue 2"]
        assert [rcpt for _, rcpt in server.collector.envelopes] == [
            ["r0@x.example"],
            ["r1@x.example"],
            ["r2@x.example"],
        ]


def test_smtp_5xx_is_permanent_and_4xx_temporary() -> None:
    codes = {"gone@x.example": 550, "busy@x.example": 451}
    with smtp_server(reject=codes.get) as server:
        settings = SmtpSettings(host="127.0.0.1", port=server.port, starttls=False)
        with SmtpTransport(settings) as transport:
            with pytest.raises(DeliveryError) as permanent:
                transport.send(message("gone@x.example"), key="a")
            with pytest.raises(DeliveryError) as temporary:
                transport.send(message("busy@x.example"), key="b")
            transport.send(message("ok@x.example"), key="c")  # the others still go out
        assert permanent.value.permanent and "550" in str(permanent.value)
        assert not temporary.value.permanent and "451" in str(temporary.value)
        assert [rcpt for _, rcpt in server.collector.envelopes] == [["ok@x.example"]]


def test_smtp_server_down_is_a_temporary_error() -> None:
    settings = SmtpSettings(host="127.0.0.1", port=9, starttls=False, timeout=2)
    with SmtpTransport(settings) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(message("a@x.example"), key="a")
    assert not caught.value.permanent
    assert "cannot connect" in str(caught.value)


def test_starttls_required_but_not_offered_is_explained() -> None:
    with smtp_server() as server:
        settings = SmtpSettings(host="127.0.0.1", port=server.port, starttls=True)
        with SmtpTransport(settings) as transport, pytest.raises(DeliveryError, match="STARTTLS"):
            transport.send(message("a@x.example"), key="a")


def test_smtp_rate_limit_spaces_the_messages() -> None:
    with smtp_server() as server:
        settings = SmtpSettings(host="127.0.0.1", port=server.port, starttls=False)
        limited = SmtpSettings(
            host="127.0.0.1", port=server.port, starttls=False, max_per_second=20
        )
        timings = []
        for chosen in (settings, limited):
            started = time.monotonic()
            with SmtpTransport(chosen) as transport:
                for n in range(6):
                    transport.send(message(f"r{n}@x.example"), key=f"k{n}")
            timings.append(time.monotonic() - started)
    free, paced = timings
    assert paced >= 5 / 20  # five gaps of 50 ms between six messages
    assert free < paced
    assert len(server.collector.messages) == 12


def pool(port: int, connections: int, **extra: float) -> SmtpTransport:
    return SmtpTransport(
        SmtpSettings(host="127.0.0.1", port=port, starttls=False, connections=connections, **extra)
    )


def test_the_smtp_pool_spreads_a_batch_over_its_connections_and_reuses_each() -> None:
    with smtp_server() as server:
        with pool(server.port, 4) as transport:
            futures = [transport.submit(message(f"r{n}@x.example"), key=f"k{n}") for n in range(40)]
            for future in futures:
                future.result(timeout=10)
        peers = server.collector.peers
    assert len(peers) == 40 and len(set(peers)) == 4  # four connections, ten messages each
    assert sorted(rcpt for _, (rcpt,) in server.collector.envelopes) == sorted(
        f"r{n}@x.example" for n in range(40)
    )


def test_a_connection_dropped_mid_data_costs_only_its_own_message() -> None:
    with smtp_server(fault=lambda n: "drop" if n == 5 else None) as server:
        with pool(server.port, 4) as transport:
            futures = {
                f"r{n}@x.example": transport.submit(message(f"r{n}@x.example"), key=f"k{n}")
                for n in range(20)
            }
            failed = []
            for recipient, future in futures.items():
                try:
                    future.result(timeout=10)
                except DeliveryError as exc:
                    assert not exc.permanent and not exc.unreachable
                    failed.append(recipient)
        received = [rcpt for _, (rcpt,) in server.collector.envelopes]
    assert len(failed) == 1 and failed[0] not in received
    assert sorted(received + failed) == sorted(futures)  # the other 19 all arrived, once
    assert len(set(server.collector.peers)) == 5  # the cut connection was opened again


def test_the_rate_limit_holds_across_the_whole_pool() -> None:
    with smtp_server() as server:
        started = time.monotonic()
        with pool(server.port, 4, max_per_second=20) as transport:
            futures = [transport.submit(message(f"r{n}@x.example"), key=f"k{n}") for n in range(6)]
            for future in futures:
                future.result(timeout=10)
        elapsed = time.monotonic() - started
    assert elapsed >= 5 / 20  # four connections, still 20 a second
    assert len(server.collector.messages) == 6


def test_a_pool_whose_server_is_down_reports_it_unreachable() -> None:
    with pool(free_port(), 4, timeout=2) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(message("a@x.example"), key="a")
    assert caught.value.unreachable and "cannot connect" in str(caught.value)
