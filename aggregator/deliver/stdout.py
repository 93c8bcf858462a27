"""Preview transport (``[mail] transport = "stdout"``): print each message instead of
sending it, to see what subscribers would get without a mail server or a Maildir.

Each message is written as its raw bytes (headers, quoted-printable bodies) after a
line naming the envelope, so the output reads like an mbox. Nothing is remembered:
the ledger marks the deliveries sent, as with any transport.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from email.message import EmailMessage
from typing import BinaryIO

from aggregator.deliver.message import Outgoing, as_outgoing, run_now


class StdoutTransport:
    window = 1

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream

    def __enter__(self) -> StdoutTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        (self._stream or sys.stdout.buffer).flush()

    def send(self, message: EmailMessage | Outgoing, *, key: str) -> None:
        outgoing = as_outgoing(message)
        stream = self._stream or sys.stdout.buffer
        stream.write(
            f"From {outgoing.sender or 'MAILER-DAEMON'} ({key} to {outgoing.recipient})\n".encode()
        )
        stream.write(outgoing.data.replace(b"\r\n", b"\n"))
        stream.write(b"\n")

    def submit(
        self, message: EmailMessage | Outgoing, *, key: str, hold: bool = False
    ) -> Future[None]:
        return run_now(lambda: self.send(message, key=key))

    def release(self, sent: Iterable[Future[None]]) -> None:
        return None  # each message is written before submit returns: nothing is held

    def together(self) -> AbstractContextManager[None]:
        return nullcontext()  # nothing crosses a thread
