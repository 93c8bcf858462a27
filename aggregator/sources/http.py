"""Fetch a feed over HTTP(S): conditional GET, bounded size and time, guarded redirects.

Build, then send: :func:`build_headers` is pure; :func:`fetch_url` does the I/O with
an injected ``httpx.AsyncClient`` so tests can point it at a loopback server.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import httpx

from aggregator.config import FetchSettings
from aggregator.errors import SourceError, TooLargeError
from aggregator.model import RawDocument
from aggregator.sources.guard import check_destination

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def build_client(settings: FetchSettings) -> httpx.AsyncClient:
    """One client per polling pass; redirects are followed by us so each hop is guarded."""
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(settings.timeout),
        headers={"User-Agent": settings.user_agent},
        limits=httpx.Limits(max_connections=settings.concurrency * 2),
    )


def build_headers(*, etag: str = "", last_modified: str = "") -> dict[str, str]:
    headers = {
        "Accept": (
            "application/atom+xml, application/rss+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
        ),
        "Accept-Encoding": "gzip, deflate",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    *,
    etag: str = "",
    last_modified: str = "",
) -> RawDocument:
    """GET ``url``; raises :class:`SourceError` with a readable message on any failure."""
    try:
        async with asyncio.timeout(settings.timeout):
            return await _follow(
                client, url, settings, build_headers(etag=etag, last_modified=last_modified)
            )
    except TimeoutError:
        raise SourceError(url, f"no complete answer within {settings.timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise SourceError(url, _describe(exc)) from exc


async def _follow(
    client: httpx.AsyncClient, url: str, settings: FetchSettings, headers: dict[str, str]
) -> RawDocument:
    for _ in range(settings.max_redirects + 1):
        await check_destination(url, settings)
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code == 304:
                return RawDocument(
                    url=url,
                    status=304,
                    not_modified=True,
                    etag=response.headers.get("etag", ""),
                    last_modified=response.headers.get("last-modified", ""),
                )
            if response.status_code >= 400:
                phrase = response.reason_phrase or "error"
                raise SourceError(url, f"the server answered HTTP {response.status_code} {phrase}")
            body = await _read_limited(response, url, settings.max_body_bytes)
            return RawDocument(
                url=url,
                content=body,
                content_type=response.headers.get("content-type", ""),
                status=response.status_code,
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
            )
    raise SourceError(url, f"more than {settings.max_redirects} redirects")


async def _read_limited(response: httpx.Response, url: str, limit: int) -> bytes:
    # Counted on decoded bytes, so a small gzip bomb stops at the limit too.
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(url, f"the body is larger than the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
