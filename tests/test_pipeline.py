"""The orchestrators against real parts: a loopback feed server, the store, a Maildir."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from aggregator import pipeline, workers
from aggregator.config import Settings
from aggregator.errors import DeliveryError
from aggregator.model import RawDocument
from aggregator.pipeline import sync_config
from aggregator.store import Store, open_store
from bench.feed_server import FeedServer
from tests.loopback import Reply, ScriptedHTTPServer

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = {f"/{p.name}": p.read_bytes() for p in (ROOT / "feeds").iterdir() if p.suffix != ".md"}


def feeds_config(base_url: str, names: list[str]) -> str:
    return "".join(f'[[feeds]]\nurl = "{base_url}/{name}"\n' for name in names)


DIGEST = '[[digests]]\nname = "daily"\nsubscribers = ["a@x.example", "b@x.example"]\n'


def opened(settings: Settings, now: datetime) -> Store:
    store = open_store(settings.storage.url)
    sync_config(store, settings, now=now)
    return store


def test_refresh_over_http_then_not_modified(
    make_settings: Callable[..., Settings], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []  # parse worker pools started ahead of their first document
    monkeypatch.setattr(workers.Workers, "start", lambda pool: started.append(pool.processes))
    with FeedServer(BUNDLED) as server:
        settings = make_settings(feeds_config(server.base_url, sorted(BUNDLED)))
        store = opened(settings, now)
        outcomes = asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
        assert sum(o.new_entries for o in outcomes) == 48 and not any(o.error for o in outcomes)
        assert len(started) == 1  # new feeds: documents are certain
        later = now + timedelta(days=2)  # past every feed's adaptive interval
        again = asyncio.run(pipeline.refresh_feeds(store, settings, now=later))
        assert len(started) == 1  # every feed has validators: none started
        assert all(o.not_modified for o in again) and len(again) == 5
        assert server.stats.not_modified == 5
        # The 304s are recorded together, each with its own next poll and validators.
        for feed in store.list_feeds():
            assert feed.last_checked_at == later and feed.last_success_at == later
            assert feed.next_check_at is not None and feed.next_check_at > later
            assert feed.etag or feed.last_modified
        assert store.due_feeds(later) == []
        store.close()


def test_a_pass_makes_its_store_calls_on_one_thread(
    make_settings: Callable[..., Settings], now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five feeds answered at once: their writes queue on one store thread, not five."""
    writers: list[str] = []
    upsert = Store.upsert_entries_counted

    def noted(store: Store, *args: object, **kwargs: object) -> object:
        writers.append(threading.current_thread().name)
        return upsert(store, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "upsert_entries_counted", noted)
    with FeedServer(BUNDLED) as server:
        settings = make_settings(feeds_config(server.base_url, sorted(BUNDLED)))
        store = opened(settings, now)
        outcomes = asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
        store.close()
    assert sum(o.new_entries for o in outcomes) == 48
    assert len(writers) == 5 and len(set(writers)) == 1
    assert writers[0].startswith("aggregator-store")


def test_a_failing_feed_is_recorded_backs_off_and_keeps_its_entries(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with ScriptedHTTPServer() as server:
        body = BUNDLED["/tin-nhanh.xml"]
        server.routes["/feed"] = lambda _h: Reply(
            200, body, {"Content-Type": "application/rss+xml"}
        )
        settings = make_settings(feeds_config(server.base_url, ["feed"]))
        store = opened(settings, now)
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
        assert store.count_entries() == 10
        server.routes["/feed"] = lambda _h: Reply(503, b"down")
        failures = []
        moment = now
        for _ in range(3):
            moment = store.list_feeds()[0].next_check_at or moment
            (outcome,) = asyncio.run(pipeline.refresh_feeds(store, settings, now=moment))
            failures.append(store.list_feeds()[0])
            assert "HTTP 503" in outcome.error
        assert [f.error_count for f in failures] == [1, 2, 3]
        waits = [(f.next_check_at - f.last_checked_at) for f in failures]  # type: ignore[operator]
        assert waits[0] < waits[1] < waits[2]  # exponential back-off
        assert store.count_entries() == 10  # a failure never touches stored entries
        server.routes["/feed"] = lambda _h: Reply(200, b"this is not a feed at all <<<")
        moment = store.list_feeds()[0].next_check_at or moment
        (outcome,) = asyncio.run(pipeline.refresh_feeds(store, settings, now=moment))
        assert outcome.error and store.count_entries() == 10
        store.close()


def test_one_bad_feed_does_not_stop_the_pass(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with FeedServer(BUNDLED) as server:
        settings = make_settings(
            feeds_config(server.base_url, ["tin-nhanh.xml", "missing.xml", "harbor-tech.json"])
        )
        store = opened(settings, now)
        outcomes = asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
        by_url = {o.feed.url.rsplit("/", 1)[-1]: o for o in outcomes}
        assert "HTTP 404" in by_url["missing.xml"].error
        assert by_url["tin-nhanh.xml"].new_entries == 10
        assert by_url["harbor-tech.json"].new_entries == 9
        store.close()


def test_the_ssrf_guard_refuses_loopback_unless_allowed(tmp_path: Path, now: datetime) -> None:
    from aggregator.config import loads

    with FeedServer(BUNDLED) as server:
        settings = loads(
            f'[storage]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
            + feeds_config(server.base_url, ["tin-nhanh.xml"]),
            source="config.toml",
            base_dir=tmp_path,
            environ={},
        )
        store = opened(settings, now)
        (outcome,) = asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
        assert "non-public address 127.0.0.1" in outcome.error
        assert "allow_private_networks" in store.list_feeds()[0].last_error
        assert server.stats.requests == 0
        store.close()


def fetched_with_digest(
    make_settings: Callable[..., Settings], now: datetime
) -> tuple[Settings, Store]:
    """Settings with the daily digest, and a store that fetched the bundled feeds from a
    loopback server (not clustered yet)."""
    with FeedServer(BUNDLED) as server:
        settings = make_settings(feeds_config(server.base_url, sorted(BUNDLED)) + DIGEST)
        store = opened(settings, now)
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
    return settings, store


def test_digest_goes_out_exactly_once_per_subscriber_even_after_a_crash(
    make_settings: Callable[..., Settings], now: datetime, tmp_path: Path
) -> None:
    settings, store = fetched_with_digest(make_settings, now)
    # In batches of 7: each sees the stories the earlier ones formed.
    assert pipeline.cluster_new_entries(store, settings, now=now, batch=7) == 48
    stories = store.list_stories(limit=100)
    assert max(len(s.entries) for s in stories) >= 2
    (issue,) = pipeline.run_due_digests(store, settings, now=now)
    assert pipeline.run_due_digests(store, settings, now=now) == []  # not due again yet
    # A crash after the first message was written but before the ledger recorded it:
    (first,) = store.claim_deliveries(now=now, limit=1)
    report = pipeline.deliver_pending(store, settings, now=now)
    assert report.sent == 1  # only the unclaimed one; the claimed one is "sending"
    assert store.recover_interrupted_deliveries(now=now) == 1
    report = pipeline.deliver_pending(store, settings, now=now)
    assert report.sent == 1
    assert store.delivery_counts(issue.id) == {"sent": 2}
    delivered = list((tmp_path / "mail" / "new").iterdir())
    assert len(delivered) == 2
    texts = [p.read_bytes() for p in delivered]
    assert all(b"Daily" in t or b"daily" in t for t in texts)
    # The next run only carries what is new since this issue: nothing yet.
    tomorrow = issue.created_at + timedelta(days=1, hours=1)
    assert pipeline.run_due_digests(store, settings, now=tomorrow) == []
    store.close()


def test_a_digest_limited_to_one_feed_shows_only_its_entries(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    with FeedServer(BUNDLED) as server:
        only = f"{server.base_url}/{'/tin-nhanh.xml'}"  # as feeds_config writes it
        spec = DIGEST + f'feeds = ["{only}"]\nmax_per_feed = 3\n'
        settings = make_settings(feeds_config(server.base_url, sorted(BUNDLED)) + spec)
        store = opened(settings, now)
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
    pipeline.cluster_new_entries(store, settings, now=now)
    draft = pipeline.draft_issue(store, settings, settings.digests[0], now=now)
    titles = {source.feed_title for story in draft.stories for source in story.sources}
    assert titles == {"Tin Nhanh"}
    assert len(draft.stories) == 3  # ten entries, but one feed leads at most three stories
    store.close()


def test_an_unwritable_maildir_leaves_deliveries_pending(
    make_settings: Callable[..., Settings], now: datetime, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where the Maildir should be")
    with FeedServer(BUNDLED) as server:
        settings = make_settings(feeds_config(server.base_url, ["tin-nhanh.xml"]) + DIGEST)
        blocked = str(tmp_path / "blocker" / "Mail")
        settings = replace(settings, mail=replace(settings.mail, maildir=blocked))
        store = opened(settings, now)
        asyncio.run(pipeline.refresh_feeds(store, settings, now=now))
    pipeline.cluster_new_entries(store, settings, now=now)
    pipeline.run_due_digests(store, settings, now=now)
    with pytest.raises(DeliveryError, match="cannot create the Maildir"):
        pipeline.deliver_pending(store, settings, now=now)
    assert store.delivery_counts() == {"pending": 2}
    store.close()


def test_ingest_adds_articles_under_their_folder(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    settings = make_settings()
    store = opened(settings, now)
    outcomes = pipeline.ingest_paths(
        store, settings, [ROOT / "tests" / "fixtures" / "articles"], now=now
    )
    assert not any(o.error for o in outcomes)
    feeds = {f.url.rsplit("/", 1)[-1]: f for f in store.list_feeds()}
    assert "articles" in feeds and "windows1258_feed.xml" in feeds
    assert store.due_feeds(now, include_not_due=True) == []
    store.close()


def test_a_guessed_charset_is_stored_right_and_logged(
    make_settings: Callable[..., Settings], now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings()
    store = opened(settings, now)
    fixture = ROOT / "tests" / "parse" / "fixtures" / "charset" / "rss2_undeclared_windows1258.xml"
    with caplog.at_level(logging.INFO, logger="aggregator"):
        (outcome,) = pipeline.ingest_paths(store, settings, [fixture], now=now)
    assert not outcome.error and outcome.new_entries
    assert any("windows-1258" in r.getMessage() for r in caplog.records)
    titles = [e.title for e in store.list_entries(limit=50)]
    assert any(any(ch in t for ch in "ăơưđ") for t in titles)
    store.close()


def _rss(*items: str) -> RawDocument:
    body = "".join(
        f"<item><guid>https://n.example/{i}</guid><link>https://n.example/{i}</link>"
        f"<title>Item {i}</title><pubDate>Mon, 02 Nov 2026 08:00:00 +0000</pubDate>"
        f"<description>Text of item {i}.</description></item>"
        for i in items
    )
    xml = f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{body}</channel></rss>'
    return RawDocument(
        url="https://n.example/feed", content=xml.encode(), content_type="application/rss+xml"
    )


def test_pruned_items_stay_old_until_their_tombstone_expires(
    make_settings: Callable[..., Settings], database_url: str, now: datetime
) -> None:
    settings = make_settings(database_url=database_url)
    settings = replace(
        settings, storage=replace(settings.storage, retention_days=5, tombstone_days=30)
    )
    store = opened(settings, now)
    feed, _ = store.add_feed("https://n.example/feed", now=now)

    def fetch(day: int, *items: str) -> int:
        return pipeline.store_document(
            store, feed, _rss(*items), settings, now + timedelta(days=day)
        ).new_entries

    assert fetch(0, "a", "b") == 2
    report = pipeline.prune_entries(store, settings, now=now + timedelta(days=10))
    assert report.entries == 2 and store.count_entries() == 0
    assert fetch(11, "a", "b") == 0  # still listed: not new
    assert fetch(40, "b") == 0  # "a" has left the feed; "b" is listed still
    pipeline.prune_entries(store, settings, now=now + timedelta(days=45))
    assert fetch(46, "a", "b") == 1  # "a" came back after its tombstone expired: new
    assert [e.title for e in store.list_entries()] == ["Item a"]
    store.close()


@pytest.mark.parametrize(("hours_late", "sent"), [(2, True), (13, False)])
def test_after_downtime_a_missed_digest_is_sent_once_or_skipped_past_the_grace(
    make_settings: Callable[..., Settings],
    now: datetime,
    hours_late: int,
    sent: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    names = sorted(BUNDLED)
    digest = DIGEST + 'schedule = "0 7 * * *"\ntimezone = "UTC"\n'
    grace = "[schedule]\ndigest_grace_hours = 12\n"
    with FeedServer(BUNDLED) as server:
        early = make_settings(feeds_config(server.base_url, names[:3]) + grace + digest)
        store = opened(early, now)
        asyncio.run(pipeline.refresh_feeds(store, early, now=now))
        pipeline.cluster_new_entries(store, early, now=now)
        (first,) = pipeline.run_due_digests(store, early, now=now)
        # More news the next day; then the daemon is down for three scheduled runs.
        later = make_settings(feeds_config(server.base_url, names) + grace + digest)
        next_day = now + timedelta(days=1)
        sync_config(store, later, now=next_day)
        asyncio.run(pipeline.refresh_feeds(store, later, now=next_day))
        pipeline.cluster_new_entries(store, later, now=next_day)
    latest_missed = datetime(2026, 11, 26, 7, tzinfo=now.tzinfo)
    back = latest_missed + timedelta(hours=hours_late)
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        issues = pipeline.run_due_digests(store, later, now=back)
    assert len(issues) == (1 if sent else 0)
    assert ("skipped" in caplog.text) is not sent
    state = store.digest_state("daily")
    assert state.next_run_at == datetime(2026, 11, 27, 7, tzinfo=now.tzinfo)
    assert pipeline.run_due_digests(store, later, now=back + timedelta(minutes=1)) == []
    if not sent:  # nothing lost: the next run carries what the skipped one would have
        (issue,) = pipeline.run_due_digests(store, later, now=state.next_run_at)
        assert issue.window_start == first.window_end
    store.close()


def test_a_daemon_back_after_a_week_polls_one_pass_now_and_spreads_the_rest(
    make_settings: Callable[..., Settings], now: datetime
) -> None:
    settings = make_settings("[schedule]\ncatch_up_minutes = 15\n")  # concurrency 10
    store = opened(settings, now)
    week_ago = now - timedelta(days=7)
    for i in range(30):
        feed, _ = store.add_feed(f"https://f{i}.example/feed", now=week_ago)
        store.reschedule_feeds([(feed.id, week_ago + timedelta(minutes=i))])
    assert pipeline.spread_overdue_feeds(store, settings, now=now) == 20
    assert len(store.due_feeds(now)) == 10
    assert len(store.due_feeds(now + timedelta(minutes=15))) == 30
    assert pipeline.spread_overdue_feeds(store, settings, now=now) == 0  # nothing overdue left
    store.close()


@pytest.mark.parametrize("send_empty", [False, True])
def test_an_empty_issue_is_skipped_unless_the_digest_says_send_empty(
    make_settings: Callable[..., Settings], now: datetime, send_empty: bool
) -> None:
    settings = make_settings(DIGEST + f"send_empty = {str(send_empty).lower()}\n")
    store = opened(settings, now)
    (issue,) = pipeline.run_due_digests(store, settings, now=now) or [None]
    assert (issue is not None) is send_empty
    report = pipeline.deliver_pending(store, settings, now=now)
    assert report.sent == (2 if send_empty else 0)
    if send_empty:
        (first, _) = sorted((Path(settings.mail.maildir) / "new").iterdir())
        mail = message_from_bytes(first.read_bytes(), policy=policy.default)
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "No new stories since the last issue." in text
    store.close()
