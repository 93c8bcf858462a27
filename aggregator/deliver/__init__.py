"""Stage 8, deliver: move built messages to people, and keep the ledger honest.

A transport is a context manager with ``send(message, key=...)``; ``key`` names
the (issue, subscriber) pair so a transport that can detect a repeat (Maildir)
does. The ledger states (pending -> sending -> sent | failed) live in the store;
``aggregator.pipeline.deliver_pending`` moves rows between them.
"""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from aggregator.config import MailSettings
from aggregator.deliver.maildir import MaildirTransport
from aggregator.deliver.smtp import SmtpTransport

__all__ = ["MaildirTransport", "SmtpTransport", "Transport", "open_transport"]


class Transport(Protocol):
    def __enter__(self) -> Transport: ...
    def __exit__(self, *exc_info: object) -> None: ...
    def send(self, message: EmailMessage, *, key: str) -> None: ...


def open_transport(settings: MailSettings) -> Transport:
    if settings.transport == "smtp":
        return SmtpTransport(settings.smtp)
    return MaildirTransport(Path(settings.maildir))
