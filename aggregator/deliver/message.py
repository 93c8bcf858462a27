"""What a transport carries: the SMTP envelope and the message's final bytes.

Shared by every transport, and the unit DKIM signs (see :mod:`aggregator.deliver.dkim`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses

from aggregator.publish.email import POLICY


@dataclass(frozen=True, slots=True)
class Outgoing:
    sender: str  # the envelope's MAIL FROM: a bare address
    recipient: str  # RCPT TO: a bare address
    data: bytes  # the whole message, CRLF line ends


def as_outgoing(message: EmailMessage | Outgoing) -> Outgoing:
    """``message`` with its envelope read from From and To, serialized by our policy."""
    if isinstance(message, Outgoing):
        return message
    senders = [address for _, address in getaddresses([str(message["From"])])]
    recipients = [address for _, address in getaddresses([str(message["To"])])]
    return Outgoing(
        sender=senders[0] if senders else "",
        recipient=recipients[0] if recipients else "",
        data=message.as_bytes(policy=POLICY),
    )


def run_now(action: Callable[[], None]) -> Future[None]:
    """A completed future for a transport that delivers synchronously."""
    future: Future[None] = Future()
    try:
        action()
    except Exception as exc:  # handed to whoever reads the future
        future.set_exception(exc)
    else:
        future.set_result(None)
    return future
