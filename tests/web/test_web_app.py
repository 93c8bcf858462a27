"""The web app in-process (Starlette's test client over ASGI): feeds, pages, health."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
import httpx
import pytest
from starlette.applications import Starlette

from aggregator.config import Settings
from aggregator.model import ClusterPlan, Entry, NewStory
from aggregator.pipeline import sync_config
from aggregator.store import Store, open_store
from aggregator.store.database import Database
from aggregator.web import create_app


@pytest.fixture
def filled(make_settings: Callable[..., Settings], now: datetime) -> tuple[Store, Settings]:
    settings = make_settings('[publish]\nbase_url = "https://agg.example"\ntitle = "Agg"\n')
    store = open_store(settings.storage.url)
    feed, _ = store.add_feed("https://news.example/rss", now=now, title="Tin <b>Nhanh</b>")
    stored = store.upsert_entries(
        feed.id,
        [
            Entry(
                entry_key=f"k{n}",
                url=f"https://news.example/{n}",
                published=now,
                title=f"Bão số {n} <script>alert(1)</script>",
                summary="Sơ tán dân.",
            )
            for n in range(3)
        ],
        now=now,
    )
    store.apply_cluster_plan(
        ClusterPlan(new_stories=[NewStory(title=e.title, entry_ids=(e.id or 0,)) for e in stored]),
        now=now,
    )
    return store, settings


class Client:
    """Requests to the app in-process over ASGI (no socket), one event loop per call."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                return await c.request(method, path, headers=headers)

        return asyncio.run(go())

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.request("GET", path, headers)

    def head(self, path: str) -> httpx.Response:
        return self.request("HEAD", path)


def client(store: Store, settings: Settings, health=None) -> Client:  # type: ignore[no-untyped-def]
    # The fixtures' clock: feed states (failing, stale) are judged at the same time as
    # the errors were recorded, whatever the date the tests run on.
    fixed = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    return Client(create_app(store, settings, health=health, clock=lambda: fixed, feed_recheck=0))


def test_atom_feed_has_validators_and_answers_304(filled: tuple[Store, Settings]) -> None:
    web = client(*filled)
    first = web.get("/feeds/all.atom")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("application/atom+xml")
    assert "max-age" in first.headers["cache-control"]
    parsed = feedparser.parse(first.content)
    assert parsed.bozo == 0 and len(parsed.entries) == 3
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert web.get("/feeds/all.atom", headers={"If-None-Match": etag}).status_code == 304
    assert web.get("/feeds/all.atom", headers={"If-None-Match": '"other"'}).status_code == 200
    assert web.get("/feeds/all.atom", headers={"If-Modified-Since": modified}).status_code == 304
    earlier = format_datetime(datetime(2020, 1, 1).astimezone(), usegmt=False)
    assert web.get("/feeds/all.atom", headers={"If-Modified-Since": earlier}).status_code == 200
    assert web.get("/feeds/all.atom", headers={"If-Modified-Since": "garbage"}).status_code == 200


def test_head_and_gzip(filled: tuple[Store, Settings]) -> None:
    web = client(*filled)
    head = web.head("/feeds/all.atom")
    assert head.status_code == 200 and head.content == b""
    zipped = web.get("/feeds/all.atom", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers.get("content-encoding") == "gzip"


def test_a_new_entry_changes_the_etag(filled: tuple[Store, Settings], now: datetime) -> None:
    store, settings = filled
    web = client(store, settings)
    etag = web.get("/feeds/all.atom").headers["etag"]
    (feed,) = store.list_feeds()
    store.upsert_entries(
        feed.id,
        [Entry(entry_key="k9", url="https://news.example/9", title="New", published=now)],
        now=now,
    )
    assert web.get("/feeds/all.atom", headers={"If-None-Match": etag}).status_code == 200


def test_home_page_lists_stories_escaped_with_autodiscovery(filled: tuple[Store, Settings]) -> None:
    page = client(*filled).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="https://agg.example/feeds/all.atom"' in html
    assert html.count("<article") == 3
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Tin &lt;b&gt;Nhanh&lt;/b&gt;" in html


def test_health_reports_database_scheduler_and_last_fetch(
    filled: tuple[Store, Settings], now: datetime
) -> None:
    store, settings = filled
    (feed,) = store.list_feeds()
    store.record_fetch_success(feed.id, now=now, next_check_at=now, etag="", last_modified="")
    ok = client(store, settings, health=lambda: {"scheduler": "running"}).get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {
        "database": True,
        "last_successful_fetch": now.isoformat(),
        "scheduler": "running",
        "status": "ok",
    }
    stopped = client(store, settings, health=lambda: {"scheduler": "stopped"}).get("/healthz")
    assert stopped.status_code == 503 and stopped.json()["status"] == "unhealthy"
    store.close()


def test_health_says_when_the_database_is_unreachable(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    unreachable = Store(Database(f"sqlite:///{tmp_path}"))  # a folder is no database
    down = client(unreachable, make_settings()).get("/healthz")
    assert down.status_code == 503
    assert down.json()["database"] is False and down.json()["status"] == "unhealthy"


def test_metrics_count_feeds_by_state_entries_and_deliveries(
    filled: tuple[Store, Settings], now: datetime
) -> None:
    store, settings = filled
    (ok,) = store.list_feeds()
    store.record_fetch_success(ok.id, now=now, next_check_at=now, etag="", last_modified="")
    failing, _ = store.add_feed("https://down.example/feed", now=now)
    store.record_fetch_error(failing.id, now=now, error="HTTP 500", next_check_at=now)
    stale, _ = store.add_feed("https://dead.example/feed", now=now)
    long_ago = now - timedelta(hours=settings.fetch.stale_after_hours + 1)
    store.record_fetch_error(stale.id, now=long_ago, error="HTTP 500", next_check_at=now)
    gone, _ = store.add_feed("https://gone.example/feed", now=now)
    store.mark_feed_gone(gone.id, now=now, error="HTTP 410 Gone")
    page = client(store, settings).get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    samples = dict(
        line.rsplit(" ", 1) for line in page.text.splitlines() if not line.startswith("#")
    )
    assert samples['aggregator_feeds{state="ok"}'] == "1"
    assert samples['aggregator_feeds{state="failing"}'] == "1"
    assert samples['aggregator_feeds{state="stale"}'] == "1"
    assert samples['aggregator_feeds{state="gone"}'] == "1"
    assert samples["aggregator_entries"] == "3"
    assert samples["aggregator_feed_errors"] == "3"
    assert samples['aggregator_deliveries{state="pending"}'] == "0"
    # The figures of `aggregator status`: the soonest poll and the last success.
    assert samples["aggregator_next_fetch_timestamp_seconds"] == f"{now.timestamp():.0f}"
    assert samples["aggregator_last_success_timestamp_seconds"] == f"{now.timestamp():.0f}"


def test_metrics_show_what_the_feed_caches_and_the_process_hold(
    filled: tuple[Store, Settings],
) -> None:
    store, settings = filled
    web = client(store, settings)

    def samples() -> dict[str, str]:
        page = web.get("/metrics")
        return dict(
            line.rsplit(" ", 1) for line in page.text.splitlines() if not line.startswith("#")
        )

    before = samples()
    assert before['aggregator_web_cache_bytes{cache="feeds"}'] == "0"
    assert web.get("/feeds/all.atom").status_code == 200
    after = samples()
    assert int(after['aggregator_web_cache_bytes{cache="feeds"}']) > 0
    assert int(after['aggregator_web_cache_bytes{cache="fragments"}']) > 0
    if Path("/proc/self/statm").exists():
        assert int(after["process_resident_memory_bytes"]) > 10 * 2**20


def test_metrics_show_each_digests_next_run_and_last_issue_deliveries(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    settings = make_settings(
        '[[digests]]\nname = "daily \\"vn\\""\nschedule = "0 7 * * *"\ntimezone = "UTC"\n'
        'subscribers = ["a@x.example"]\n'
    )
    store = open_store(settings.storage.url)
    sync_config(store, settings, now=now)
    page = client(store, settings).get("/metrics")
    samples = dict(
        line.rsplit(" ", 1) for line in page.text.splitlines() if not line.startswith("#")
    )
    label = 'digest="daily \\"vn\\""'
    # Never sent: due at once, and no issue has deliveries yet.
    assert samples[f"aggregator_digest_next_run_timestamp_seconds{{{label}}}"] == (
        f"{now.timestamp():.0f}"
    )
    assert samples[f'aggregator_digest_last_issue_deliveries{{{label},state="sent"}}'] == "0"
    store.close()
