"""Deliver over SMTP: a small pool of connections (``[mail.smtp] connections``), each
reused for many messages, STARTTLS or implicit TLS, AUTH, and at most
``max_per_second`` messages a second across the pool when the provider limits the rate.

The pipeline is synchronous (the store is), so the pool runs on an asyncio loop of its
own, in a thread this transport starts on ``__enter__`` and stops on ``__exit__``.
:meth:`SmtpTransport.submit` hands a message to that loop and returns a
``concurrent.futures.Future``; the pipeline keeps :attr:`SmtpTransport.window` of them
in flight and records each outcome in the ledger from its own thread as it completes,
so the store is never touched from the loop. One aiosmtplib client per connection: a
message waits for a free connection, so the server sees one transaction per connection
at a time. A message submitted with ``hold`` keeps its connection after its
transaction until the caller gives it back with :meth:`~SmtpTransport.release` (its
ledger has committed the outcome), so a crash leaves at most one accepted but
unrecorded message per connection. Messages and releases cross to the loop in
batches (see :meth:`~SmtpTransport.together`), one wake-up each.

DATA goes out as the message's bytes with only their dots stuffed when the message
says its line ends are CRLF already (``Outgoing.crlf_only``); otherwise through
aiosmtplib's ``data()``, which normalizes line ends first.

A 5xx reply for a recipient is permanent (recorded, never retried); anything else
(connection refused, 4xx, timeouts, a connection dropped mid-DATA) is temporary and
retried later by the ledger; the connection it happened on is closed and opened again
for its next message, and the other connections carry on. A server that cannot be
reached, refuses the login or refuses our sender address is ``unreachable``: the
ledger defers the whole batch instead of trying every message. A connection that
cannot be opened while others are open is not that (the server may cap connections
per client): the pool shrinks by one and the message goes on another connection.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from typing import Any

import aiosmtplib

from aggregator.config import SmtpSettings
from aggregator.deliver.message import Outgoing, as_outgoing, stuff_dots
from aggregator.errors import DeliveryError

# Messages in flight per connection: one being sent and one waiting, so a connection
# never idles while the pipeline prepares the next message.
_IN_FLIGHT_PER_CONNECTION = 2


@dataclass
class _Connection:
    client: aiosmtplib.SMTP | None = None


class SmtpTransport:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.connections = max(1, settings.connections)
        self.window = self.connections * _IN_FLIGHT_PER_CONNECTION
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._idle: asyncio.Queue[_Connection] | None = None
        self._pool: list[_Connection] = []
        self._next_send = 0.0  # time.monotonic() before which the rate limit waits
        # Handed from the caller's thread to the loop's (see _hand_over).
        self._inbox: deque[tuple[Outgoing, bool, Future[None]]] = deque()
        self._released: deque[Future[None]] = deque()
        self._handover_lock = threading.Lock()
        self._wake_pending = False
        self._deferring = 0  # inside together(): hand over on the way out
        self._held: dict[Future[None], _Connection] = {}  # connections kept by hold=True

    def __enter__(self) -> SmtpTransport:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="smtp-pool", daemon=True)
        self._thread.start()
        ready.wait()
        asyncio.run_coroutine_threadsafe(self._open_pool(), loop).result()
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            # QUIT politely, but never wait on a server that stopped answering.
            closing = asyncio.run_coroutine_threadsafe(self._close_pool(), loop)
            closing.result(timeout=self.settings.timeout + 5)
        except TimeoutError:
            pass
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None

    def submit(
        self, message: EmailMessage | Outgoing, *, key: str, hold: bool = False
    ) -> Future[None]:
        """Queue ``message`` on the pool; the future raises :class:`DeliveryError`.

        With ``hold``, the connection that sends it takes no other message until
        :meth:`release` is given the future (the caller's ledger has the outcome).
        """
        if self._loop is None:
            raise RuntimeError("SmtpTransport used outside its with block")
        future: Future[None] = Future()
        self._hand_over(self._inbox, (as_outgoing(message), hold, future))
        return future

    def release(self, sent: Iterable[Future[None]]) -> None:
        """The connections held for these completed submissions may go on."""
        with self.together():
            for future in sent:
                self._hand_over(self._released, future)

    @contextmanager
    def together(self) -> Iterator[None]:
        """Submissions and releases made inside reach the loop together, on one wake-up.

        Waking the loop from another thread writes to a socket, which hands the GIL to
        the loop's thread; getting it back can take milliseconds while the loop is busy,
        more than a message costs. For the caller's thread only.
        """
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring:
                self._wake()

    def send(self, message: EmailMessage | Outgoing, *, key: str) -> None:
        self.submit(message, key=key).result()

    def _hand_over(self, box: deque[Any], item: Any) -> None:
        box.append(item)
        if not self._deferring:
            self._wake()

    def _wake(self) -> None:
        """Have the loop empty both boxes, unless a wake-up is on its way already."""
        assert self._loop is not None
        with self._handover_lock:
            if self._wake_pending or not (self._inbox or self._released):
                return
            self._wake_pending = True
        self._loop.call_soon_threadsafe(self._take_handovers)

    # -- on the pool's loop ---------------------------------------------------------

    async def _open_pool(self) -> None:
        # Connections open lazily, on their first message: a small issue opens one.
        self._idle = asyncio.Queue()
        self._pool = [_Connection() for _ in range(self.connections)]
        for connection in self._pool:
            self._idle.put_nowait(connection)

    async def _close_pool(self) -> None:
        for connection in self._pool:
            if connection.client is not None:
                try:
                    await connection.client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    connection.client.close()
                connection.client = None

    def _take_handovers(self) -> None:
        with self._handover_lock:
            self._wake_pending = False
        while self._released:
            connection = self._held.pop(self._released.popleft(), None)
            if connection is not None and self._idle is not None:
                self._idle.put_nowait(connection)
        while self._inbox:
            message, hold, future = self._inbox.popleft()
            task = asyncio.ensure_future(self._send(message, future if hold else None))
            task.add_done_callback(partial(_settle, future))

    async def _send(self, message: Outgoing, held_by: Future[None] | None) -> None:
        assert self._idle is not None
        while True:
            connection = await self._idle.get()
            keep = True
            tried = False
            try:
                if connection.client is None:
                    try:
                        connection.client = await self._connect()
                    except DeliveryError:
                        if any(c.client is not None for c in self._pool):
                            keep = False  # the others work: do without this one
                            self._pool.remove(connection)
                            continue
                        raise
                await self._pace()
                tried = True
                await self._transact(connection, message)
                return
            finally:
                if keep and held_by is not None and tried:
                    self._held[held_by] = connection  # until release() names held_by
                elif keep:
                    self._idle.put_nowait(connection)

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        where = f"{s.host}:{s.port}"
        tls = ssl.create_default_context() if s.ssl or s.starttls else None
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            timeout=s.timeout,
            use_tls=s.ssl,
            start_tls=False,  # upgraded below, so a server without STARTTLS is explained
            tls_context=tls,
        )
        try:
            await client.connect()
            if s.starttls and not s.ssl:
                await client.ehlo()
                if not client.supports_extension("starttls"):
                    raise DeliveryError(
                        where,
                        "the server does not offer STARTTLS "
                        "(set [mail.smtp] starttls = false only on a trusted network)",
                        unreachable=True,
                    )
                await client.starttls(tls_context=tls)
            if s.username:
                await client.login(s.username, s.password)
            return client
        except DeliveryError:
            client.close()
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            # Even a refused login is no reader's fault: every message waits for the fix.
            raise DeliveryError(where, _connect_problem(exc), unreachable=True) from None

    async def _pace(self) -> None:
        rate = self.settings.max_per_second
        if rate <= 0:
            return
        now = time.monotonic()
        start = max(self._next_send, now)
        self._next_send = start + 1 / rate  # reserved before waiting: one loop, no lock
        if start > now:
            await asyncio.sleep(start - now)

    async def _transact(self, connection: _Connection, message: Outgoing) -> None:
        client = connection.client
        assert client is not None
        recipient = message.recipient
        try:
            # MAIL, RCPT and DATA one by one rather than sendmail(): sendmail normalizes
            # every message's line ends once more to announce its SIZE, a regex pass over
            # 40 KB that costs about as much as the rest of the transaction; our bytes
            # are CRLF already, and SIZE is optional (RFC 1870).
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()
            await client.mail(message.sender)
            try:
                await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                await client.rset()  # the envelope is ours to clear; the connection is fine
                raise DeliveryError(
                    recipient,
                    f"refused with {exc.code} {exc.message}",
                    permanent=500 <= exc.code < 600,
                ) from None
            await self._data(client, message)
        except aiosmtplib.SMTPSenderRefused as exc:
            # Our From refused: no reader's fault, and every other message would fail alike.
            self._drop(connection)
            raise DeliveryError(
                recipient,
                f"the server refused our sender address ({exc.code} {exc.message})",
                unreachable=True,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            self._drop(connection)
            raise DeliveryError(
                recipient, f"{exc.code} {exc.message}", permanent=500 <= exc.code < 600
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._drop(connection)
            raise DeliveryError(recipient, f"SMTP connection failed ({exc})") from None
        except ValueError as exc:  # an address aiosmtplib will not put in an envelope
            raise DeliveryError(
                recipient, f"not a deliverable address ({exc})", permanent=True
            ) from None

    @staticmethod
    async def _data(client: aiosmtplib.SMTP, message: Outgoing) -> None:
        if not message.crlf_only:
            await client.data(message.data)  # normalizes line ends, stuffs dots
            return
        # What aiosmtplib's data() does, minus its two regex passes: DATA, the stuffed
        # bytes and the final dot, and the reply. One transaction per connection at a
        # time (see _send), so nothing else waits on this client's replies.
        reply = await client.execute_command(b"DATA")
        if reply.code != aiosmtplib.SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        protocol = client.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")
        protocol.write(stuff_dots(message.data))
        protocol.write(b".\r\n")
        try:
            reply = await protocol.read_response(timeout=client.timeout)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            client.close()
            raise
        if reply.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)

    @staticmethod
    def _drop(connection: _Connection) -> None:
        if connection.client is not None:
            connection.client.close()
            connection.client = None


def _settle(future: Future[None], task: asyncio.Task[None]) -> None:
    """Hand a send's result to the caller's future (the task ran on the pool's loop)."""
    if task.cancelled():
        future.cancel()
    elif (exc := task.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(None)


def _connect_problem(exc: Exception) -> str:
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"SMTP login refused ({exc.code} {exc.message})"
    return f"cannot connect to the SMTP server ({exc})"
