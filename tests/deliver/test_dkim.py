"""DKIM: a digest signed with a configured key verifies, as written to a Maildir and as
received by a real SMTP server, against the public key a DNS TXT record would hold."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import dkim
import pytest

from aggregator import pipeline
from aggregator.config import Settings, SmtpSettings
from aggregator.errors import ConfigError
from aggregator.store import Store, open_store
from tests.issues import queue_issue
from tests.loopback import smtp_server

DIGEST = '[[digests]]\nname = "daily"\ntitle = "Bản tin hằng ngày"\n'


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """A fresh 2048-bit RSA key (openssl) and its DNS record."""
    folder = tmp_path_factory.mktemp("dkim")
    private = folder / "dkim.pem"
    subprocess.run(
        ["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


@pytest.fixture
def queued(
    make_settings: Callable[..., Settings], now: datetime, key_pair: tuple[Path, bytes]
) -> Iterator[tuple[Store, Settings]]:
    """Settings that sign with the key, and a store with one issue for one reader."""
    settings = make_settings(DIGEST)
    mail = replace(
        settings.mail, dkim_key_file=str(key_pair[0]), dkim_domain="agg.example", dkim_selector="s1"
    )
    settings = replace(settings, mail=mail)
    store = open_store(settings.storage.url)
    store.add_subscriber("daily", "reader@x.example", now=now)
    queue_issue(store, now)
    yield store, settings
    store.close()


def verifies(raw: bytes, record: bytes) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s1._domainkey.agg.example."
        return record

    return bool(dkim.verify(raw, dnsfunc=dns))


def test_a_signed_digest_verifies_from_the_maildir(
    queued: tuple[Store, Settings], now: datetime, key_pair: tuple[Path, bytes]
) -> None:
    store, settings = queued
    assert pipeline.deliver_pending(store, settings, now=now).sent == 1
    (written,) = (Path(settings.mail.maildir) / "new").iterdir()
    raw = written.read_bytes()
    assert raw.count(b"DKIM-Signature:") == 1 and b"d=agg.example" in raw
    assert verifies(raw, key_pair[1])
    tampered = raw.replace(b"unsubscribe?token=", b"unsubscribe?token=x")
    assert not verifies(tampered, key_pair[1])  # the links are covered


def test_a_signed_digest_verifies_as_the_smtp_server_received_it(
    queued: tuple[Store, Settings], now: datetime, key_pair: tuple[Path, bytes]
) -> None:
    store, settings = queued
    with smtp_server() as server:
        smtp = SmtpSettings(host="127.0.0.1", port=server.port, starttls=False, timeout=5)
        over_smtp = replace(settings, mail=replace(settings.mail, transport="smtp", smtp=smtp))
        assert pipeline.deliver_pending(store, over_smtp, now=now).sent == 1
        (received,) = server.collector.raw
    assert verifies(received, key_pair[1])


def test_dkim_needs_all_three_settings(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="DKIM needs all of"):
        make_settings('dkim_domain = "agg.example"\n')
