"""Fetching over real HTTP on 127.0.0.1: conditional GET, gzip, limits, redirects, errors."""

from __future__ import annotations

import asyncio
import gzip
import random
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from aggregator.config import FetchSettings
from aggregator.errors import BlockedAddressError, SourceError, TooLargeError
from aggregator.model import RawDocument
from aggregator.sources.guard import check_destination, is_blocked_address
from aggregator.sources.http import build_client, fetch_url, guards_resolution
from bench.feed_server import FeedServer
from tests.loopback import Reply, ScriptedHTTPServer

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
LOOPBACK = FetchSettings(allow_private_networks=True, timeout=5)


def fetch(url: str, settings: FetchSettings = LOOPBACK, **validators: str):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with build_client(settings) as client:
            return await fetch_url(client, url, settings, **validators)

    return asyncio.run(go())


@pytest.fixture
def scripted() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        yield server


def test_conditional_get_turns_into_not_modified() -> None:
    with FeedServer({"/feed.xml": FEED}) as server:
        first = fetch(server.url("/feed.xml"))
        assert first.content == FEED and first.etag
        second = fetch(server.url("/feed.xml"), etag=first.etag)
        assert second.not_modified and second.content == b""
        assert server.stats.not_modified == 1


def test_gzip_bodies_are_decoded() -> None:
    big = FEED.replace(b"<title>T</title>", b"<title>" + b"x" * 5000 + b"</title>")
    with FeedServer({"/feed.xml": big}, gzip=True) as server:
        raw = fetch(server.url("/feed.xml"))
        assert raw.content == big
        assert server.stats.gzipped == 1


def test_a_gzip_body_can_be_handed_over_compressed_for_the_parse_worker() -> None:
    big = FEED.replace(b"<title>T</title>", b"<title>" + b"x" * 5000 + b"</title>")

    async def go(url: str, compressed: bool) -> RawDocument:
        async with build_client(LOOPBACK) as client:
            return await fetch_url(client, url, LOOPBACK, compressed=compressed)

    with FeedServer({"/feed.xml": big}, gzip=True) as server:
        raw = asyncio.run(go(server.url("/feed.xml"), True))
    assert raw.content_encoding == "gzip" and len(raw.content) < len(big) // 10
    assert gzip.decompress(raw.content) == big
    with FeedServer({"/feed.xml": big}, gzip=False) as server:
        plain = asyncio.run(go(server.url("/feed.xml"), True))
    assert plain.content_encoding == "" and plain.content == big


def test_a_compressed_body_over_the_limit_is_refused_before_inflating(
    scripted: ScriptedHTTPServer,
) -> None:
    noise = gzip.compress(random.Random(1).randbytes(100_000))  # random bytes do not shrink
    scripted.routes["/big"] = lambda _h: Reply(200, noise, {"Content-Encoding": "gzip"})
    settings = replace(LOOPBACK, max_body_bytes=50_000)

    async def go() -> RawDocument:
        async with build_client(settings) as client:
            return await fetch_url(client, scripted.url("/big"), settings, compressed=True)

    with pytest.raises(TooLargeError, match="50,000-byte limit"):
        asyncio.run(go())


def test_body_limit_applies_after_decompression(scripted: ScriptedHTTPServer) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 2_000_000)
    assert len(bomb) < 10_000
    scripted.routes["/bomb"] = lambda _h: Reply(200, bomb, {"Content-Encoding": "gzip"})
    with pytest.raises(TooLargeError, match="1,000,000-byte limit"):
        fetch(scripted.url("/bomb"), replace(LOOPBACK, max_body_bytes=1_000_000))


def test_redirects_are_followed_and_bounded(scripted: ScriptedHTTPServer) -> None:
    scripted.routes["/old"] = lambda _h: Reply(301, headers={"Location": "/new"})
    scripted.routes["/new"] = lambda _h: Reply(200, FEED)
    scripted.routes["/loop"] = lambda _h: Reply(302, headers={"Location": "/loop"})
    raw = fetch(scripted.url("/old"))
    assert raw.url == scripted.url("/new") and raw.content == FEED
    with pytest.raises(SourceError, match="more than 2 redirects"):
        fetch(scripted.url("/loop"), replace(LOOPBACK, max_redirects=2))


@pytest.mark.parametrize(
    ("status", "words"), [(404, "HTTP 404"), (500, "HTTP 500"), (410, "HTTP 410")]
)
def test_error_statuses_become_readable_errors(
    scripted: ScriptedHTTPServer, status: int, words: str
) -> None:
    scripted.routes["/x"] = lambda _h: Reply(status, b"nope")
    with pytest.raises(SourceError, match=words) as caught:
        fetch(scripted.url("/x"))
    assert scripted.url("/x") in str(caught.value)


def test_a_slow_server_hits_the_timeout(scripted: ScriptedHTTPServer) -> None:
    scripted.routes["/slow"] = lambda _h: Reply(200, FEED, delay=2.0)
    with pytest.raises(SourceError, match="within 0.5 s|did not answer in time"):
        fetch(scripted.url("/slow"), replace(LOOPBACK, timeout=0.5))


def test_connection_refused_is_a_readable_error() -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        fetch("http://127.0.0.1:9/feed.xml")


def test_validators_are_sent(scripted: ScriptedHTTPServer) -> None:
    scripted.routes["/f"] = lambda _h: Reply(304)
    raw = fetch(scripted.url("/f"), etag='"abc"', last_modified="Sun, 22 Nov 2026 10:00:00 GMT")
    assert raw.not_modified
    _, headers = scripted.requests[-1]
    assert headers["if-none-match"] == '"abc"'
    assert headers["if-modified-since"] == "Sun, 22 Nov 2026 10:00:00 GMT"
    assert "aggregator" in headers["user-agent"]


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "0.0.0.0",
        "100.64.0.1",
    ],
)
def test_non_public_addresses_are_blocked(address: str) -> None:
    import ipaddress

    assert is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    import ipaddress

    assert not is_blocked_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed",
        "http://localhost:8080/feed",
        "http://2130706433/feed",
        "http://0x7f.0.0.1/feed",
        "http://0177.0.0.1/feed",
        "http://[::ffff:7f00:1]/feed",
    ],
)
def test_guard_refuses_loopback_spellings_after_resolution(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="non-public address"):
        asyncio.run(check_destination(url, FetchSettings()))


def test_allow_hosts_opens_one_host_and_every_redirect_hop_is_checked(
    scripted: ScriptedHTTPServer,
) -> None:
    host_port = scripted.base_url.removeprefix("http://")
    guarded = FetchSettings(timeout=5, allow_hosts=(host_port,))
    scripted.routes["/ok"] = lambda _h: Reply(200, FEED)
    scripted.routes["/hop"] = lambda _h: Reply(302, headers={"Location": "http://127.0.0.2:9/x"})
    assert fetch(scripted.url("/ok"), guarded).content == FEED
    with pytest.raises(BlockedAddressError, match="127.0.0.2"):
        fetch(scripted.url("/hop"), guarded)
    assert [path for path, _ in scripted.requests] == ["/ok", "/hop"]


@pytest.mark.parametrize(
    "spelling", ["2130706433", "0x7f.0.0.1", "0177.0.0.1", "127.1", "localhost"]
)
def test_odd_spellings_of_loopback_are_refused_through_the_real_client(
    scripted: ScriptedHTTPServer, spelling: str
) -> None:
    """Through the guarded transport, where names are left to the connector's resolver."""
    port = scripted.base_url.rsplit(":", 1)[1]
    scripted.routes["/feed"] = lambda _h: Reply(200, FEED)
    guarded = FetchSettings(timeout=5, allow_hosts=(f"127.0.0.1:{port}",))
    with pytest.raises(BlockedAddressError, match="non-public address 127.0.0.1"):
        fetch(f"http://{spelling}:{port}/feed", guarded)
    assert scripted.requests == []


def test_only_the_guarded_connector_skips_the_name_check_before_a_request() -> None:
    # The aiohttp connector checks the addresses its own DNS answers give; any other
    # client (the stock httpx transport, one made elsewhere) gets names resolved and
    # checked before each request, so no client reaches a private address unchecked.
    async def kinds() -> tuple[bool, bool, bool]:
        async with (
            build_client(LOOPBACK) as ours,
            build_client(LOOPBACK, transport="httpx") as stock,
            httpx.AsyncClient() as plain,
        ):
            return guards_resolution(ours), guards_resolution(stock), guards_resolution(plain)

    assert asyncio.run(kinds()) == (True, False, False)
