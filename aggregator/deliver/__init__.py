"""Stage 8, deliver: move built messages to people, and keep the ledger honest.

A transport is a context manager with ``submit(message, key=...)``, which hands back a
future that completes when the message has gone (or raises :class:`DeliveryError`),
and ``send``, which waits for it. ``window`` is how many messages the transport can
usefully have in flight: a few per connection for SMTP, 1 for stdout; the Maildir writes
each before ``submit`` returns, and its window (32) is how many the ledger records in
one commit.
``key`` names the (issue, subscriber) pair so a transport that can detect a repeat
(Maildir) does. ``hold`` keeps an SMTP connection from its next message until the
caller, having recorded the outcome, passes the future to ``release``; what is
submitted and released inside ``together()`` reaches the SMTP pool's thread at once (see
:mod:`aggregator.deliver.smtp`). The ledger states (pending -> sending -> sent | failed) live in the
store; ``aggregator.pipeline.deliver_pending`` moves rows between them.

Messages travel as :class:`Outgoing`: the envelope and the final bytes (DKIM-signed
when configured), which is what the digest's byte template makes; an ``EmailMessage``
(the confirmation email, tests) is serialized once on the way in.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from aggregator.config import MailSettings
from aggregator.deliver.maildir import MaildirTransport
from aggregator.deliver.message import Outgoing, as_outgoing, crlf_only
from aggregator.deliver.smtp import SmtpTransport
from aggregator.deliver.stdout import StdoutTransport

__all__ = [
    "MaildirTransport",
    "Outgoing",
    "SmtpTransport",
    "StdoutTransport",
    "Transport",
    "as_outgoing",
    "crlf_only",
    "open_transport",
]


class Transport(Protocol):
    window: int

    def __enter__(self) -> Transport: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def submit(
        self, message: EmailMessage | Outgoing, *, key: str, hold: bool = False
    ) -> Future[None]: ...
    def release(self, sent: Iterable[Future[None]]) -> None: ...
    def together(self) -> AbstractContextManager[None]: ...
    def send(self, message: EmailMessage | Outgoing, *, key: str) -> None: ...


def open_transport(settings: MailSettings) -> Transport:
    if settings.transport == "smtp":
        return SmtpTransport(settings.smtp)
    if settings.transport == "stdout":
        return StdoutTransport()
    return MaildirTransport(Path(settings.maildir))
