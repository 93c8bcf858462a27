"""The HTTP transport under our httpx client, chosen by measurement (bench/fetch.py).

Stock httpx spends about 14 ms of CPU per request in its connection pool (encode/httpx
#3215, encode/httpcore#1035); httpx on aiohttp's transport keeps httpx's API at a
fraction of that. aiohttp also lets us own name resolution: :class:`GuardedResolver`
applies the SSRF rule to the addresses the connector is about to use, so DNS
rebinding between our pre-check and the connection cannot reach a private address.
"""

from __future__ import annotations

import socket
import ssl
from typing import Literal

import aiohttp
import httpx
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from httpx_aiohttp import AiohttpTransport

from aggregator.config import FetchSettings
from aggregator.sources.guard import BlockedDestination, refusal

Transport = Literal["aiohttp", "httpx"]


class GuardedResolver(ThreadedResolver):
    """The system resolver, refusing answers that point at non-public addresses."""

    def __init__(self, settings: FetchSettings) -> None:
        super().__init__()
        self.settings = settings

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        problem = refusal(host, port, [r["host"] for r in results], self.settings)
        if problem:
            raise BlockedDestination(problem)
        return results


class GuardedTransport(AiohttpTransport):
    """httpx over aiohttp with :class:`GuardedResolver` in its connector."""


def build_transport(
    settings: FetchSettings, kind: Transport = "aiohttp"
) -> httpx.AsyncBaseTransport:
    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=20)
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)

    def session() -> aiohttp.ClientSession:  # created lazily, inside the running loop
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(settings),
            limit=settings.concurrency,
            limit_per_host=settings.per_host,
            ttl_dns_cache=60,
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    # The transport's own SSL context serves only the session it would build itself; ours
    # (above) brings its connector, with aiohttp's verifying default context. A bare
    # context, never used, spares loading the CA bundle on every command (about 40 ms).
    unused = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return GuardedTransport(client=session, limits=limits, verify=unused)
