"""Deliver into a local Maildir: the embedded default, readable by any mail client.

Each message is written into ``tmp/`` and renamed into ``new/``, so a reader never
sees half a message. The file name carries the delivery key (issue and
subscriber), so delivering the same key again after a crash finds the message
already there and writes nothing: exactly one copy per subscriber per issue.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from email.message import EmailMessage
from pathlib import Path

from aggregator.deliver.message import Outgoing, as_outgoing, run_now
from aggregator.errors import DeliveryError


class MaildirTransport:
    # Each message is written (and fsync'd) before submit returns, so the window is how
    # many the ledger records in one commit: a commit per message cost as much client CPU
    # as writing the message. A crash re-sends up to this many, and each is found here
    # by its key and not written again.
    window = 32

    def __init__(self, root: Path) -> None:
        self.root = root
        self._delivered: set[str] = set()

    def __enter__(self) -> MaildirTransport:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(
                str(self.root), f"cannot create the Maildir ({exc.strerror})"
            ) from None
        # Read once: listing the folder for every message makes a large issue quadratic.
        # Only the claimant of a delivery writes its key, so no one adds keys behind us.
        self._delivered = {
            name.split(".", 1)[0] for sub in ("new", "cur") for name in os.listdir(self.root / sub)
        }
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def has_delivered(self, key: str) -> bool:
        return key in self._delivered

    def submit(
        self, message: EmailMessage | Outgoing, *, key: str, hold: bool = False
    ) -> Future[None]:
        return run_now(lambda: self.send(message, key=key))

    def release(self, sent: Iterable[Future[None]]) -> None:
        return None  # each message is written before submit returns: nothing is held

    def together(self) -> AbstractContextManager[None]:
        return nullcontext()  # nothing crosses a thread

    def send(self, message: EmailMessage | Outgoing, *, key: str) -> None:
        if self.has_delivered(key):
            return
        outgoing = as_outgoing(message)
        name = f"{key}.{socket.gethostname().replace('/', '_').replace(':', '_')}"
        temporary = self.root / "tmp" / name
        try:
            with open(temporary, "wb") as handle:
                handle.write(outgoing.data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.root / "new" / name)
            self._delivered.add(key)
        except OSError as exc:
            # A full disk or a lost permission stops every message, not just this one.
            raise DeliveryError(
                outgoing.recipient,
                f"cannot write to {self.root} ({exc.strerror})",
                unreachable=True,
            ) from None
