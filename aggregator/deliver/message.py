"""What a transport carries: the SMTP envelope and the message's final bytes.

Shared by every transport, and the unit DKIM signs (see :mod:`aggregator.deliver.dkim`).

SMTP's DATA wants CRLF line ends only and every line that starts with "." doubled
(RFC 5321 4.5.2). aiosmtplib makes sure of both with two regex passes over every
message, which on a 40 KB digest costs more client CPU than the rest of its
transaction. A message built from a byte template can skip the line-end pass: its
builder checks the template once (:func:`crlf_only`) and says so in
:attr:`Outgoing.crlf_only`, and :func:`stuff_dots` then doubles the dots with a plain
substring search. Anything else takes aiosmtplib's own path.
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
    # True when whoever built ``data`` knows every line end in it is CRLF and that it
    # ends with one (a checked byte template): SMTP then only stuffs its dots.
    crlf_only: bool = False


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


def crlf_only(*chunks: bytes) -> bool:
    """True when every line end in ``chunks`` is CRLF (no CR or LF alone, none split
    between two chunks) and the last chunk ends with one."""
    return (
        bool(chunks)
        and chunks[-1].endswith(b"\r\n")
        and all(
            chunk.count(b"\r") == chunk.count(b"\n") == chunk.count(b"\r\n") for chunk in chunks
        )
    )


def stuff_dots(data: bytes) -> bytes:
    """``data`` as SMTP DATA sends it: each line that starts with "." gets another.

    Only for CRLF-only data (see :func:`crlf_only`), where a line starts at the
    beginning or after CRLF: the same bytes aiosmtplib's regex makes, for a substring
    search when no line starts with a dot, the usual case.
    """
    if data.startswith(b"."):
        data = b"." + data
    if b"\r\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    return data
