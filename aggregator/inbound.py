"""Unsubscribe requests that arrive by mail: the mailto: half of List-Unsubscribe.

Every digest names ``mailto:ADDRESS?subject=unsubscribe%20TOKEN`` beside its https
link (:func:`aggregator.publish.email.unsubscribe_mailto`); a mail client that
unsubscribes by mail sends a message with that subject to ``[mail]
unsubscribe_address``. The mail server delivers that address into a Maildir (a
``.forward``, procmail, Dovecot's LDA, fetchmail: anything that writes Maildir), named
by ``[mail] unsubscribe_maildir``; :func:`process_maildir` reads it.

For each message in ``new/``:

* a genuine unsubscribe token in the Subject (RFC 2047 decoded, so "Re: unsubscribe
  TOKEN" or an encoded subject work too), or after a ``+`` in the local part of a
  recipient address (``unsubscribe+TOKEN@example.org``), unsubscribes that reader at
  once; the message moves to ``cur/``, flagged seen;
* a message without one (no token, a forged or damaged one, a reader since deleted)
  is logged and moved aside into the Maildir++ folder ``.invalid`` (its ``new/``),
  where the list owner's mail client shows it as an unread folder;
* a file that cannot be read or moved stays where it is and is tried again next scan.

Only headers are read: a bounce or an auto-reply quotes a digest's List-Unsubscribe in
its body, and must not unsubscribe anyone. The token is the proof, as for the one-click
link: the From address is not compared with the subscriber's, since readers write
from aliases.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import getaddresses
from pathlib import Path

from aggregator.errors import NotFoundError, TokenError

log = logging.getLogger("aggregator")

INVALID_FOLDER = ".invalid"
SEEN = ":2,S"
# Headers are what we read; a message's head is far smaller than this, and the rest
# (a body, attachments) is never parsed.
_HEAD_BYTES = 64 * 1024
# <subscriber id>.<issued>.<mac>: the shape of aggregator.digest.tokens' tokens.
_TOKEN = re.compile(r"(?<![\w.-])(\d+\.\d+\.[A-Za-z0-9_-]{8,})(?![\w.-])")
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To")

# Unsubscribes the reader a token names; raises TokenError for a token that is not
# genuine, NotFoundError for a reader that no longer exists.
Unsubscriber = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class ScanReport:
    unsubscribed: int = 0
    invalid: int = 0
    retry: int = 0  # unreadable or unmovable now: left in new/ for the next scan


def ensure_maildir(root: Path) -> None:
    """``tmp/``, ``new/`` and ``cur/`` under ``root``, so a mail server can deliver."""
    for sub in ("tmp", "new", "cur"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def candidate_tokens(head: bytes) -> Iterator[str]:
    """Everything in the headers that has the shape of a token, Subject first."""
    headers = BytesHeaderParser(policy=default).parsebytes(head)
    try:
        subject = str(headers.get("Subject", ""))
    except (HeaderParseError, ValueError):  # an undecodable encoded word: read it raw
        subject = head.decode("latin-1")
    yield from _TOKEN.findall(subject)
    for name in _RECIPIENT_HEADERS:
        try:
            values = [str(value) for value in headers.get_all(name, [])]
        except (HeaderParseError, ValueError):
            continue
        for _, address in getaddresses(values):
            local = address.rpartition("@")[0]
            if "+" in local:
                yield from _TOKEN.findall(local.partition("+")[2])


def _read_head(path: Path) -> bytes:
    """The start of the file; the header parser stops at the blank line after the head."""
    with path.open("rb") as handle:
        return handle.read(_HEAD_BYTES)


def _act(head: bytes, unsubscribe: Unsubscriber) -> str | None:
    """None when a token in ``head`` unsubscribed someone; else why not."""
    problem = "no unsubscribe token in the Subject or the recipient address"
    for token in candidate_tokens(head):
        try:
            unsubscribe(token)
        except TokenError as exc:
            problem = str(exc)
            continue
        except NotFoundError as exc:
            return str(exc)
        return None
    return problem


def _move(path: Path, folder: Path) -> None:
    name = path.name if ":2," in path.name else path.name + SEEN
    os.replace(path, folder / name)


def process_maildir(root: Path, unsubscribe: Unsubscriber) -> ScanReport:
    """Act on every message in ``root/new`` once (see the module's docstring)."""
    ensure_maildir(root)
    invalid_new = root / INVALID_FOLDER / "new"
    unsubscribed = invalid = retry = 0
    for entry in sorted(os.scandir(root / "new"), key=lambda e: e.name):
        if not entry.is_file() or entry.name.startswith("."):
            continue
        path = Path(entry.path)
        try:
            problem = _act(_read_head(path), unsubscribe)
            if problem is None:
                _move(path, root / "cur")
                unsubscribed += 1
                continue
            ensure_maildir(root / INVALID_FOLDER)
            os.replace(path, invalid_new / path.name)
        except OSError as exc:
            log.warning("Cannot process unsubscribe mail %s: %s; retrying next scan", path, exc)
            retry += 1
            continue
        log.warning("Unsubscribe mail %s set aside in %s: %s", path.name, INVALID_FOLDER, problem)
        invalid += 1
    return ScanReport(unsubscribed=unsubscribed, invalid=invalid, retry=retry)
