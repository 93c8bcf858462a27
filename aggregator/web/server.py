"""Run the web app under uvicorn on a socket we bind ourselves.

Binding first turns "address already in use" into a one-line user error instead
of uvicorn exiting the process, and leaves signal handling to our caller (the
daemon stops the scheduler and the server together).
"""

from __future__ import annotations

import socket
from collections.abc import Generator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from aggregator.config import ServerSettings
from aggregator.errors import ConfigError


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Signals belong to the daemon, which sets should_exit itself.
        yield


def bind_socket(settings: ServerSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that say
    # they are TCP. Without it, Nagle holds a response body's last segment until the
    # client's delayed ACK, about 40 ms per response (bench/serve.py, gzip row).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror} "
            "(change [server] port, or stop the other process)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class SwappableApp:
    """An ASGI app that hands each request to the app of the moment, so a daemon's reload
    can put in an app built from new settings without closing the socket (requests in
    flight finish on the old one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class WebServer:
    def __init__(self, app: ASGIApp, settings: ServerSettings) -> None:
        self.socket = bind_socket(settings)
        # uvicorn believes X-Forwarded-Proto/-For from 127.0.0.1 unless told otherwise; we
        # believe them only from the proxies the config names (the scheme decides whether
        # the form's cookie is Secure, the client address its rate limit).
        trusted = list(settings.trusted_proxies)
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            proxy_headers=bool(trusted),
            forwarded_allow_ips=trusted or [],
        )
        self._server = _Server(config)

    async def serve(self) -> None:
        await self._server.serve(sockets=[self.socket])

    def stop(self) -> None:
        self._server.should_exit = True
