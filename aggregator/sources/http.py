"""Fetch a feed over HTTP(S): conditional GET, bounded size and time, guarded redirects.

Build, then send: :func:`build_headers` and the small ``_status``/``_retry_after``
readers are pure; :func:`fetch_url` does the I/O with an injected
``httpx.AsyncClient`` so tests point it at a loopback server. Redirects are followed
here, not by the client, so every hop passes the SSRF guard and we can tell a
permanent move (301/308 all the way) from a temporary one.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import aiohttp
import httpx

from aggregator.config import FetchSettings
from aggregator.errors import (
    BlockedAddressError,
    FeedGoneError,
    RetryLaterError,
    SourceError,
    TooLargeError,
)
from aggregator.model import RawDocument
from aggregator.sources.guard import BlockedDestination, check_destination
from aggregator.sources.transport import GuardedTransport, Transport, build_transport

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
_GZIP = frozenset({"gzip", "x-gzip"})
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class GuardedClient(httpx.AsyncClient):
    """A client over a :class:`GuardedTransport`: its connector applies the SSRF rule to
    the addresses its own DNS answers give, so a fetch need not resolve names first.
    Any other client gets the names resolved and checked before each request."""


def build_client(settings: FetchSettings, transport: Transport = "aiohttp") -> httpx.AsyncClient:
    """One client per polling pass; redirects are ours to follow (see the module docstring)."""
    connector = build_transport(settings, transport)
    kind = GuardedClient if isinstance(connector, GuardedTransport) else httpx.AsyncClient
    return kind(
        transport=connector,
        follow_redirects=False,
        timeout=httpx.Timeout(
            settings.timeout, connect=settings.connect_timeout, read=settings.read_timeout
        ),
        headers={"User-Agent": settings.user_agent},
    )


def build_headers(*, etag: str = "", last_modified: str = "") -> dict[str, str]:
    headers = {
        "Accept": (
            "application/atom+xml, application/rss+xml, application/feed+json, "
            "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
        ),
        "Accept-Encoding": "gzip, deflate, br",
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
    compressed: bool = False,
) -> RawDocument:
    """GET ``url``; raises :class:`SourceError` (or a subclass) with a readable message.

    With ``compressed``, a gzip body is returned as it came (``content_encoding="gzip"``,
    at most ``max_body_bytes`` of it) for the parse worker to inflate within the same
    limit (:func:`aggregator.parse.inflate.inflate`); any other body is decoded here.
    """
    headers = build_headers(etag=etag, last_modified=last_modified)
    try:
        async with asyncio.timeout(settings.timeout):
            return await _follow(client, url, settings, headers, compressed)
    except TimeoutError:
        raise SourceError(url, f"no complete answer within {settings.timeout:g} s") from None
    except httpx.InvalidURL as exc:
        raise SourceError(url, f"invalid URL ({exc})") from None
    except httpx.HTTPError as exc:
        blocked = _blocked_cause(exc)
        if blocked is not None:
            raise BlockedAddressError(url, str(blocked)) from None
        raise SourceError(url, _describe(exc)) from exc


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    settings: FetchSettings,
    headers: dict[str, str],
    compressed: bool,
) -> RawDocument:
    start, permanent = url, True
    guarded = guards_resolution(client)
    for _ in range(settings.max_redirects + 1):
        await check_destination(url, settings, resolve_names=not guarded)
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in REDIRECT_STATUSES and "location" in response.headers:
                permanent = permanent and status in PERMANENT_REDIRECTS
                url = urljoin(url, response.headers["location"])
                continue
            _raise_for_status(response, url)
            common = {
                "url": url,
                "status": status,
                "etag": response.headers.get("etag", ""),
                "last_modified": response.headers.get("last-modified", ""),
                "max_age": max_age(response.headers.get("cache-control", "")),
                "moved_to": url if permanent and url != start else "",
            }
            if status == 304:
                return RawDocument(not_modified=True, **common)
            encoding = response.headers.get("content-encoding", "").strip().lower()
            kept = compressed and encoding in _GZIP  # left for the parse worker to inflate
            body = await _read_limited(response, url, settings.max_body_bytes, raw=kept)
            return RawDocument(
                content=body,
                content_type=response.headers.get("content-type", ""),
                content_encoding="gzip" if kept else "",
                **common,
            )
    raise SourceError(url, f"more than {settings.max_redirects} redirects")


def guards_resolution(client: httpx.AsyncClient) -> bool:
    """True when the client's connector applies the SSRF rule to its own DNS answers."""
    return isinstance(client, GuardedClient)


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    phrase = response.reason_phrase or "error"
    if status == 410:
        raise FeedGoneError(url, "the server answered HTTP 410 Gone: the feed was removed")
    if status in {429, 503}:
        wait = retry_after(response.headers.get("retry-after", ""), datetime.now(UTC))
        hint = f", asking to retry in {wait:.0f} s" if wait is not None else ""
        raise RetryLaterError(
            url, f"the server answered HTTP {status} {phrase}{hint}", retry_after=wait
        )
    raise SourceError(url, f"the server answered HTTP {status} {phrase}")


def retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def max_age(cache_control: str) -> int | None:
    found = _MAX_AGE.search(cache_control)
    return int(found.group(1)) if found else None


async def _read_limited(
    response: httpx.Response, url: str, limit: int, *, raw: bool = False
) -> bytes:
    # Counted on decoded bytes, so a small gzip bomb stops at the limit too; a ``raw``
    # (still compressed) body is counted as it comes and bounded again once inflated.
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw() if raw else response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(url, f"the body is larger than the {limit:,}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _blocked_cause(exc: BaseException) -> BlockedDestination | None:
    """The guard's refusal, when the connector raised it deep inside the transport."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, BlockedDestination):
            return current
        stack.extend([current.__cause__, current.__context__, getattr(current, "os_error", None)])
    return None


def _describe(exc: httpx.HTTPError) -> str:
    # httpx-aiohttp reports a refused connection as ConnectTimeout (its exception map
    # takes the first matching parent class), so the aiohttp cause decides the wording.
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"cannot connect ({cause.os_error.strerror or cause.os_error})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or 'connection refused'})"
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    if isinstance(exc, httpx.DecodingError):
        return f"the body could not be decoded ({exc})"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"the connection broke off before the body was complete ({exc or 'no detail'})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
