"""Real servers on 127.0.0.1 for tests: a scripted HTTP server and an SMTP server (aiosmtpd).

The bundled-file server with ETag/gzip/latency is ``bench.feed_server.FeedServer``,
shared with the benchmarks; the scripted server here answers per path with any
status, headers and body a test needs (redirects, errors, slow or huge bodies).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Reply:
    """One scripted answer. ``chunks`` (with ``chunk_delay``) streams a body piece by
    piece, endlessly if the iterable is; ``length`` overrides Content-Length (to lie)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunks: Iterable[bytes] | None = None
    chunk_delay: float = 0.0
    length: int | None = None


Route = Callable[[dict[str, str]], Reply]


class ScriptedHTTPServer:
    """``server.routes[path] = lambda headers: Reply(...)``; records every request (and
    the body of each POST, in ``posted``)."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.posted: list[tuple[str, bytes]] = []
        self.clients: list[tuple[str, int]] = []  # the client's address, per request
        owner = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps a connection open between requests unless told otherwise.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                owner.posted.append((self.path, self.rfile.read(length)))
                self.do_GET()

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.requests.append((self.path, headers))
                owner.clients.append(self.client_address)
                route = owner.routes.get(self.path)
                reply = route(headers) if route else Reply(404, b"not found")
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunks is None or reply.length is not None:
                    length = reply.length if reply.length is not None else len(reply.body)
                    self.send_header("Content-Length", str(length))
                if not keep_alive:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                    for chunk in reply.chunks or ():
                        time.sleep(reply.chunk_delay)
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = not keep_alive

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def __enter__(self) -> ScriptedHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# What the server does with the Nth DATA (1-based): None accepts; "421"/"451" answer
# that code; "drop" cuts the connection before keeping the message (as if cut off
# mid-DATA); "keep-and-drop" keeps it, then cuts the connection before the reply (the
# one case where the sender cannot know the message arrived).
Fault = Callable[[int], str | None]


class _Collector:
    def __init__(self, reject: Callable[[str], int | None], fault: Fault) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.peers: list[object] = []  # the client end of each kept message's connection
        # Each kept message's session, one per connection: a reconnect may get the port
        # of the connection just cut, so peers alone can miss it. Kept alive, so distinct.
        self.sessions: list[object] = []
        # The session of every DATA command, in order, the cut ones included.
        self.data_sessions: list[object] = []
        self.reject = reject
        self.fault = fault
        self.data_commands = 0

    async def handle_MAIL(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: Any
    ) -> str:
        code = self.reject(address)
        if code:
            return f"{code} sender not allowed"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        code = self.reject(address)
        if code:
            return f"{code} mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.data_commands += 1
        self.data_sessions.append(session)
        fault = self.fault(self.data_commands)
        if fault in {"421", "451"}:
            return f"{fault} try again later"
        if fault != "drop":
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.raw.append(envelope.original_content or envelope.content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.append(session.peer)
            self.sessions.append(session)
        if fault in {"drop", "keep-and-drop"}:
            server.transport.abort()
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(
    reject: Callable[[str], int | None] = lambda _a: None,
    fault: Fault = lambda _n: None,
    port: int | None = None,
) -> Iterator[Any]:
    """A real SMTP server on 127.0.0.1; ``reject(address)`` may return an error code for a
    sender or a recipient,
    ``fault(n)`` misbehaves on the nth DATA (see :data:`Fault`)."""
    collector = _Collector(reject, fault)
    controller = Controller(collector, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    controller.collector = collector  # type: ignore[attr-defined]
    try:
        yield controller
    finally:
        controller.stop()
