"""Servers that misbehave, on 127.0.0.1: each outcome is recorded on its feed, and the
daemon's tick and the other feeds go on."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import brotli
import pytest

from aggregator import pipeline
from aggregator.config import FetchSettings, Settings, loads
from aggregator.daemon import run_tick
from aggregator.errors import BlockedAddressError
from aggregator.sources.http import build_client, fetch_url
from aggregator.store import Store, open_store
from tests.bundled import FEEDS
from tests.loopback import Reply, ScriptedHTTPServer

RSS = (FEEDS / "tin-nhanh.xml").read_bytes()
ATOM = (FEEDS / "saigon-times-daily.atom").read_bytes()
ILL_FORMED = (  # an undeclared entity: not XML, but the tolerant parser reads it
    "<rss version='2.0'><channel><title>Tin&nbsp;nhanh</title><item><title>Bão&nbsp;số 13"
    "</title><link>https://feeds.example/bao-so-13</link><guid>bao-13</guid></item></channel></rss>"
).encode()
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}


def rss(_headers: dict[str, str]) -> Reply:
    return Reply(200, RSS, RSS_TYPE)


@pytest.fixture
def server() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as running:
        yield running


def configure(
    server: ScriptedHTTPServer, tmp_path: Path, paths: list[str], **fetch: object
) -> tuple[Store, Settings]:
    """A store whose feeds are ``paths`` on ``server``; the SSRF guard is on, with only
    the test server allowed (``allow_hosts``)."""
    host = server.base_url.removeprefix("http://")
    options = {"timeout": 3, "read_timeout": 1, "max_body_bytes": 200_000, **fetch}
    text = f'[storage]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
    text += f'[fetch]\nallow_hosts = ["{host}"]\n'
    text += "".join(f"{key} = {value}\n" for key, value in options.items())
    text += "".join(f'[[feeds]]\nurl = "{server.url("/" + path)}"\n' for path in paths)
    settings = loads(text, source="config.toml", base_dir=tmp_path, environ={})
    store = open_store(settings.storage.url)
    pipeline.sync_config(store, settings, now=datetime.now().astimezone())
    return store, settings


def feeds_by_path(store: Store) -> dict[str, object]:
    return {feed.url.rsplit("/", 1)[-1]: feed for feed in store.list_feeds()}


MISBEHAVING: dict[str, tuple[Callable[[dict[str, str]], Reply], str]] = {
    "drip": (
        lambda _h: Reply(200, b"<rss>", RSS_TYPE, chunks=itertools.repeat(b" "), chunk_delay=0.2),
        "no complete answer within 3 s",
    ),
    "endless": (
        lambda _h: Reply(200, b"<rss>", RSS_TYPE, chunks=itertools.repeat(b" " * 65536)),
        "larger than the 200,000-byte limit",
    ),
    "bomb": (
        lambda _h: Reply(
            200, gzip.compress(b" " * 50_000_000), {**RSS_TYPE, "Content-Encoding": "gzip"}
        ),
        "larger than the 200,000-byte limit",
    ),
    "loop": (lambda _h: Reply(302, headers={"Location": "/loop"}), "more than 5 redirects"),
    "gone": (lambda _h: Reply(410, b"gone"), "HTTP 410 Gone"),
    "limited": (
        lambda _h: Reply(429, b"slow down", {"Retry-After": "120"}),
        "HTTP 429 Too Many Requests, asking to retry in 120 s",
    ),
    "broken": (lambda _h: Reply(500, b"oops"), "HTTP 500 Internal Server Error"),
    "truncated": (lambda _h: Reply(200, RSS[:100], RSS_TYPE, length=5000), "broke off"),
    "html": (
        lambda _h: Reply(
            200, b"<!doctype html><html><body>Hi</body></html>", {"Content-Type": "text/html"}
        ),
        "sent an HTML page, not a feed",
    ),
    "private": (
        lambda _h: Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}),
        "non-public address 169.254.169.254",
    ),
}


def test_every_misbehaviour_is_recorded_and_the_tick_goes_on(
    server: ScriptedHTTPServer, tmp_path: Path
) -> None:
    server.routes["/good"] = rss
    # A feed under a wrong Content-Type is still a feed: the body decides.
    server.routes["/mislabeled"] = lambda _h: Reply(200, ATOM, {"Content-Type": "text/plain"})
    # Ill-formed XML: the tolerant parser reads it in its worker process.
    server.routes["/illformed"] = lambda _h: Reply(200, ILL_FORMED, RSS_TYPE)
    for name, (route, _) in MISBEHAVING.items():
        server.routes[f"/{name}"] = route
    store, settings = configure(server, tmp_path, ["good", "mislabeled", "illformed", *MISBEHAVING])
    started = datetime.now().astimezone()
    asyncio.run(run_tick(store, settings))  # what the daemon runs: it must simply return
    took = datetime.now().astimezone() - started
    assert took < timedelta(seconds=15)  # every fetch is bounded in time
    feeds = feeds_by_path(store)
    assert store.count_entries() == 21  # the good feeds went on
    assert feeds["good"].error_count == 0  # type: ignore[attr-defined]
    assert feeds["mislabeled"].error_count == 0  # type: ignore[attr-defined]
    assert feeds["illformed"].error_count == 0  # type: ignore[attr-defined]
    for name, (_, words) in MISBEHAVING.items():
        feed = feeds[name]
        assert feed.error_count == 1, name  # type: ignore[attr-defined]
        assert words in feed.last_error, (name, feed.last_error)  # type: ignore[attr-defined]
    assert feeds["gone"].status == "gone"  # type: ignore[attr-defined]
    later = datetime.now().astimezone() + timedelta(days=30)
    assert "gone" not in {f.url.rsplit("/", 1)[-1] for f in store.due_feeds(later)}
    wait = feeds["limited"].next_check_at - feeds["limited"].last_checked_at  # type: ignore[attr-defined]
    assert timedelta(seconds=108) <= wait <= timedelta(seconds=120)  # Retry-After, with jitter
    store.close()


def confirm_moves(store: Store, settings: Settings, passes: int) -> list[str]:
    urls = []
    now = datetime.now().astimezone()
    for _ in range(passes):
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now, due_only=False))
        urls.append(store.list_feeds()[0].url)
        now += timedelta(days=2)
    return urls


def test_a_permanent_move_changes_the_url_only_when_seen_consistently(
    server: ScriptedHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/old"] = lambda _h: Reply(301, headers={"Location": "/new"})
    server.routes["/new"] = rss
    store, settings = configure(server, tmp_path, ["old"])
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        urls = confirm_moves(store, settings, 3)
    assert urls == [server.url("/old"), server.url("/old"), server.url("/new")]
    assert "URL changes after 3 redirects in a row" in caplog.text
    assert "Feed URL updated" in caplog.text
    assert store.count_entries() == 10  # entries stay with the feed
    store.close()


def test_a_flapping_redirect_never_hijacks_the_feed(
    server: ScriptedHTTPServer, tmp_path: Path
) -> None:
    answers = itertools.cycle(
        [Reply(301, headers={"Location": "/elsewhere"}), Reply(200, RSS, RSS_TYPE)]
    )
    server.routes["/flap"] = lambda _h: next(answers)
    server.routes["/elsewhere"] = rss
    store, settings = configure(server, tmp_path, ["flap"])
    assert set(confirm_moves(store, settings, 6)) == {server.url("/flap")}
    assert store.list_feeds()[0].moved_count <= 1
    store.close()


def test_temporary_redirects_keep_the_url(server: ScriptedHTTPServer, tmp_path: Path) -> None:
    server.routes["/feed"] = lambda _h: Reply(302, headers={"Location": "/today"})
    server.routes["/today"] = rss
    store, settings = configure(server, tmp_path, ["feed"])
    assert set(confirm_moves(store, settings, 4)) == {server.url("/feed")}
    assert store.list_feeds()[0].moved_count == 0 and store.count_entries() == 10
    store.close()


def test_a_gone_feed_added_again_is_polled_again(
    server: ScriptedHTTPServer, tmp_path: Path
) -> None:
    server.routes["/feed"] = lambda _h: Reply(410)
    store, settings = configure(server, tmp_path, ["feed"])
    now = datetime.now().astimezone()
    asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
    assert store.due_feeds(now + timedelta(days=30)) == []
    feed, created = store.add_feed(server.url("/feed"), now=now)
    assert not created and feed.status == "active"
    assert [f.id for f in store.due_feeds(now)] == [feed.id]
    store.close()


def test_a_feed_failing_past_the_threshold_is_flagged_stale_and_still_retried(
    server: ScriptedHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.routes["/feed"] = lambda _h: Reply(503, b"down")
    store, settings = configure(server, tmp_path, ["feed"], stale_after_hours=24)
    now = datetime.now().astimezone()
    asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
    first = store.list_feeds()[0]
    assert first.state(now, timedelta(hours=24)) == "failing"
    later = now + timedelta(hours=30)
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        asyncio.run(pipeline.refresh_feeds(store, settings, now=later, due_only=False))
    feed = store.list_feeds()[0]
    assert feed.failing_since == first.failing_since  # the streak started at the first failure
    assert feed.state(later, timedelta(hours=24)) == "stale"
    assert "Feed stale, failing for 30 h (still retried)" in caplog.text
    assert feed.next_check_at is not None  # never given up
    assert feed.next_check_at - later <= timedelta(minutes=settings.fetch.max_backoff_minutes)
    server.routes["/feed"] = rss
    asyncio.run(pipeline.refresh_feeds(store, settings, now=later, due_only=False))
    assert store.list_feeds()[0].state(later, timedelta(hours=24)) == "ok"  # back to normal
    store.close()


def test_brotli_bodies_are_decoded(server: ScriptedHTTPServer) -> None:
    server.routes["/br"] = lambda _h: Reply(
        200, brotli.compress(RSS), {**RSS_TYPE, "Content-Encoding": "br"}
    )
    settings = FetchSettings(allow_private_networks=True, timeout=5)

    async def go():  # type: ignore[no-untyped-def]
        async with build_client(settings) as client:
            return await fetch_url(client, server.url("/br"), settings)

    raw = asyncio.run(go())
    assert raw.content == RSS
    assert "br" in server.requests[-1][1]["accept-encoding"]


def test_the_connector_refuses_a_name_that_rebinds_to_a_private_address(
    server: ScriptedHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that looked public to a pre-check but resolves to loopback at connect time."""
    from aiohttp.resolver import ThreadedResolver

    real = ThreadedResolver.resolve

    async def rebinding(self, host, port=0, family=0):  # type: ignore[no-untyped-def]
        if host == "feeds.rebind.example":
            return await real(self, "127.0.0.1", port, family)
        return await real(self, host, port, family)

    monkeypatch.setattr(ThreadedResolver, "resolve", rebinding)
    port = server.base_url.rsplit(":", 1)[1]
    server.routes["/feed"] = rss
    settings = FetchSettings(timeout=5, allow_hosts=(f"127.0.0.1:{port}",))

    async def go() -> None:
        async with build_client(settings) as client:
            await fetch_url(client, f"http://feeds.rebind.example:{port}/feed", settings)

    with pytest.raises(
        BlockedAddressError, match="feeds.rebind.example resolves to the non-public"
    ):
        asyncio.run(go())
    assert server.requests == []
