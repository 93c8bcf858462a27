"""The store on every backend: SQLite always, PostgreSQL when configured."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.config import DigestSettings, FeedSettings
from aggregator.errors import NotFoundError
from aggregator.model import (
    ClusterPlan,
    DeliveryState,
    DigestIssue,
    Enclosure,
    Entry,
    IssueSource,
    IssueStory,
    NewStory,
    UnchangedCheck,
)
from aggregator.store import Store
from aggregator.store.entries import _stored


def make_entry(key: str, published: datetime, **fields: object) -> Entry:
    values: dict[str, object] = {"url": f"https://news.example/{key}", "title": f"Title {key}"}
    values.update(fields)
    return Entry(entry_key=key, published=published, **values)  # type: ignore[arg-type]


def test_add_feed_is_idempotent(store: Store, now: datetime) -> None:
    feed, created = store.add_feed("https://a.example/feed", now=now, tags=["x"])
    again, created_again = store.add_feed("https://a.example/feed", now=now)
    assert created and not created_again
    assert again.id == feed.id and again.tags == ("x",)


def test_get_and_remove_feed_by_url_or_id(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("k1", now)], now=now)
    assert store.get_feed(str(feed.id)).url == feed.url
    store.remove_feed(feed.url)
    assert store.list_feeds() == []
    assert store.count_entries() == 0
    with pytest.raises(NotFoundError, match="no feed"):
        store.get_feed("https://a.example/feed")


def test_upsert_returns_only_new_entries_and_keeps_first_seen(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    first = store.upsert_entries(feed.id, [make_entry("a", now), make_entry("b", now)], now=now)
    assert sorted(e.entry_key for e in first) == ["a", "b"]
    later = now + timedelta(hours=1)
    edited = make_entry("a", now, title="Edited title")
    second = store.upsert_entries(feed.id, [edited, make_entry("c", now)], now=later)
    assert [e.entry_key for e in second] == ["c"]
    stored = {e.entry_key: e for e in store.list_entries(limit=10)}
    assert stored["a"].title == "Edited title"
    assert stored["a"].first_seen_at == now  # an edit is not news again
    assert stored["c"].first_seen_at == later


def test_the_counted_upsert_writes_the_same_rows_and_counts_only_new_ones(
    store: Store, now: datetime
) -> None:
    """What a polling pass calls: the same writes as upsert_entries, a count back."""
    counted, _ = store.add_feed("https://a.example/feed", now=now)
    listed, _ = store.add_feed("https://b.example/feed", now=now)
    batch = [make_entry("a", now, tags=("x",)), make_entry("b", now)]
    assert store.upsert_entries_counted(counted.id, batch, now=now) == 2
    assert len(store.upsert_entries(listed.id, batch, now=now)) == 2
    later = now + timedelta(hours=1)
    again = [make_entry("a", now, title="Edited title"), make_entry("c", now)]
    assert store.upsert_entries_counted(counted.id, again, now=later) == 1
    assert len(store.upsert_entries(listed.id, again, now=later)) == 1
    assert store.upsert_entries_counted(counted.id, again, now=later) == 0

    def rows(feed_id: int) -> list[tuple[object, ...]]:
        found = [e for e in store.list_entries(limit=10) if e.feed_id == feed_id]
        return sorted(
            (e.entry_key, e.title, e.tags, e.published, e.updated, e.first_seen_at) for e in found
        )

    assert rows(counted.id) == rows(listed.id)
    assert len(rows(counted.id)) == 3


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    local = datetime(2026, 11, 21, 9, 15, tzinfo=UTC) + timedelta(hours=0)
    feed, _ = store.add_feed("https://a.example/feed", now=local)
    store.upsert_entries(feed.id, [make_entry("a", local)], now=local)
    (entry,) = store.list_entries()
    assert entry.published == local and entry.published.tzinfo is not None
    assert entry.published.utcoffset() == timedelta(0)


def test_errors_are_recorded_and_entries_survive(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now)], now=now)
    retry = now + timedelta(minutes=60)
    store.record_fetch_error(
        feed.id, now=now, error="the server answered HTTP 500", next_check_at=retry
    )
    store.record_fetch_error(
        feed.id, now=now, error="the server answered HTTP 502", next_check_at=retry
    )
    failed = store.get_feed(feed.url)
    assert failed.error_count == 2 and failed.last_error.endswith("502")
    assert store.count_entries() == 1
    assert store.due_feeds(now) == []
    assert [f.id for f in store.due_feeds(retry)] == [feed.id]
    store.record_fetch_success(
        feed.id,
        now=retry,
        next_check_at=retry + timedelta(minutes=30),
        etag='"v2"',
        last_modified="",
        title="Feed title",
    )
    healed = store.get_feed(feed.url)
    assert healed.error_count == 0 and healed.last_error == "" and healed.etag == '"v2"'
    assert healed.title == "Feed title"


def test_a_feeds_own_title_and_link_fill_in_only_what_is_empty(store: Store, now: datetime) -> None:
    named, _ = store.add_feed("https://a.example/feed", title="My name for it", now=now)
    unnamed, _ = store.add_feed("https://b.example/feed", now=now)
    for feed in (named, unnamed):
        store.record_fetch_success(
            feed.id,
            now=now,
            next_check_at=now,
            etag="",
            last_modified="",
            title="The feed's own title",
            site_url="https://a.example/",
        )
    # A later poll that brings no title (a 304, an untitled document) blanks nothing.
    store.record_fetch_success(feed.id, now=now, next_check_at=now, etag="", last_modified="")
    kept, filled = store.get_feed(named.url), store.get_feed(unnamed.url)
    assert (kept.title, kept.site_url) == ("My name for it", "https://a.example/")
    assert (filled.title, filled.site_url) == ("The feed's own title", "https://a.example/")


def test_unchanged_checks_move_each_feeds_polling_state_in_one_batch(
    store: Store, now: datetime
) -> None:
    failing, _ = store.add_feed("https://a.example/feed", now=now)
    quiet, _ = store.add_feed("https://b.example/feed", now=now)
    untouched, _ = store.add_feed("https://c.example/feed", now=now)
    store.record_fetch_error(failing.id, now=now, error="HTTP 500", next_check_at=now)
    later = now + timedelta(hours=2)
    store.record_unchanged_checks(
        [
            UnchangedCheck(
                feed_id=failing.id,
                next_check_at=later + timedelta(hours=1),
                etag='"a1"',
                last_modified="",
                interval_seconds=3600,
            ),
            UnchangedCheck(
                feed_id=quiet.id,
                next_check_at=later + timedelta(hours=3),
                etag="",
                last_modified="Mon, 23 Nov 2026 08:00:00 GMT",
                interval_seconds=10800,
            ),
        ],
        now=later,
    )
    healed, checked, other = (store.get_feed(f.url) for f in (failing, quiet, untouched))
    assert healed.error_count == 0 and healed.last_error == "" and healed.failing_since is None
    assert (healed.etag, healed.next_check_at, healed.last_success_at) == (
        '"a1"',
        later + timedelta(hours=1),
        later,
    )
    assert checked.last_modified == "Mon, 23 Nov 2026 08:00:00 GMT"
    assert (checked.interval_seconds, checked.last_checked_at) == (10800, later)
    assert other.last_checked_at is None and other.next_check_at == untouched.next_check_at


def test_ingested_feeds_are_never_due(store: Store, now: datetime) -> None:
    store.add_feed("file:///tmp/articles", now=now, origin="ingest")
    polled, _ = store.add_feed("https://a.example/feed", now=now)
    assert [f.id for f in store.due_feeds(now, include_not_due=True)] == [polled.id]


def test_config_feeds_sync_adds_updates_and_removes(store: Store, now: datetime) -> None:
    user, _ = store.add_feed("https://user.example/feed", now=now)
    store.sync_config_feeds(
        [
            FeedSettings(url="https://a.example/f", title="A", tags=("x",)),
            FeedSettings(url="https://b.example/f"),
        ],
        now=now,
    )
    assert {f.url for f in store.list_feeds()} == {
        user.url,
        "https://a.example/f",
        "https://b.example/f",
    }
    store.sync_config_feeds([FeedSettings(url="https://a.example/f", title="A2")], now=now)
    feeds = {f.url: f for f in store.list_feeds()}
    assert set(feeds) == {user.url, "https://a.example/f"}  # user-added feeds are kept
    assert feeds["https://a.example/f"].title == "A2" and feeds["https://a.example/f"].tags == ()


def test_cluster_plan_creates_and_joins_stories(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    a, b, c = store.upsert_entries(
        feed.id, [make_entry("a", now), make_entry("b", now), make_entry("c", now)], now=now
    )
    assert a.id and b.id and c.id
    store.apply_cluster_plan(
        ClusterPlan(new_stories=[NewStory(title="S", entry_ids=(a.id, b.id))]), now=now
    )
    (story,) = store.list_stories()
    assert story.title == "S" and {e.id for e in story.entries} == {a.id, b.id}
    store.apply_cluster_plan(ClusterPlan(joins={story.id: [c.id]}), now=now)
    (story,) = store.list_stories()
    assert len(story.entries) == 3
    assert store.unclustered_entries() == []


def test_unclustered_entries_come_in_published_order_a_batch_after_another(
    store: Store, now: datetime
) -> None:
    """``after``: the batch that follows a batch, for clustering to read ahead; entries
    sharing a date are ordered by id, and none is read twice or skipped."""
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    made = [
        make_entry(f"k{n}", now + timedelta(minutes=n // 3), content_html=f"<p>{n}</p>")
        for n in range(10)
    ]
    store.upsert_entries(feed.id, list(reversed(made)), now=now)
    batches = [store.unclustered_entries(limit=4)]
    while len(batches[-1]) == 4:
        batches.append(store.unclustered_entries(limit=4, after=batches[-1][-1]))
    assert [len(b) for b in batches] == [4, 4, 2]
    read = [e for batch in batches for e in batch]
    assert sorted(e.entry_key for e in read) == sorted(e.entry_key for e in made)
    # Stored newest first: within a minute, the later key has the lower id and comes first.
    assert [e.entry_key for e in read[:3]] == ["k2", "k1", "k0"]
    assert [(e.published, e.id) for e in read] == sorted((e.published, e.id or 0) for e in read)
    # Clustering reads no article bodies.
    assert {e.content_html for e in read} == {""}
    assert store.unclustered_entries(limit=4, after=read[-1]) == []


def _issue_story(story_id: int) -> IssueStory:
    return IssueStory(
        story_id=story_id,
        headline="Bão số 13",
        url="https://a.example/x",
        summary="Tóm tắt.",
        published=datetime(2026, 11, 16, tzinfo=UTC),
        sources=(IssueSource(feed_title="Tin Nhanh", title="Bão", url="https://a"),),
    )


def queue_issue(store: Store, now: datetime) -> DigestIssue:
    """An issue of digest "daily" with one story, due again at once."""
    return store.create_issue(
        digest="daily",
        title="Daily",
        window_start=None,
        window_end=now,
        stories=[_issue_story(1)],
        now=now,
        next_run_at=now,
    )


def test_issue_is_frozen_with_pending_deliveries(store: Store, now: datetime) -> None:
    store.sync_config_subscribers(
        [DigestSettings(name="daily", subscribers=("a@x.example", "b@x.example"))], now=now
    )
    issue = store.create_issue(
        digest="daily",
        title="Daily",
        window_start=None,
        window_end=now,
        stories=[_issue_story(7)],
        now=now,
        next_run_at=now + timedelta(days=1),
    )
    assert store.get_issue(issue.id) == issue
    assert issue.stories[0].headline == "Bão số 13"
    assert store.delivery_counts(issue.id) == {"pending": 2}
    state = store.digest_state("daily")
    assert state.last_run_at == now and state.last_window_end == now
    assert state.next_run_at == now + timedelta(days=1)


def test_sent_stories_remember_when_and_with_which_sources(store: Store, now: datetime) -> None:
    earlier, later = now - timedelta(days=2), now - timedelta(days=1)
    first = _issue_story(1)
    grown = replace(
        first,
        sources=(IssueSource(feed_title="Sài Gòn", title="Bão", url="https://b"),),
        follow_up_since=earlier,
        earlier_sources=1,
    )
    issues = [
        store.create_issue(
            digest="daily",
            title="Daily",
            window_start=None,
            window_end=moment,
            stories=stories,
            now=moment,
            next_run_at=moment,
        )
        for moment, stories in ((earlier, [first, _issue_story(2)]), (later, [grown]))
    ]
    sent = store.sent_stories("daily", since=now - timedelta(days=30))
    assert sent[1].first_sent_at == earlier and sent[1].urls == {"https://a", "https://b"}
    assert set(sent) == {1, 2}
    assert store.sent_stories("weekly", since=now - timedelta(days=30)) == {}
    assert set(store.sent_stories("daily", since=later)) == {1}
    # Only the stories asked about (those an issue being built could carry), as they were.
    only = store.sent_stories("daily", since=now - timedelta(days=30), story_ids=[1, 3])
    assert only == {1: sent[1]}
    assert store.sent_stories("daily", since=now - timedelta(days=30), story_ids=[]) == {}
    # A follow-up survives the round trip through the frozen JSON.
    (frozen,) = store.get_issue(issues[1].id).stories
    assert frozen.follow_up_since == earlier and frozen.earlier_sources == 1


def test_delivery_ledger_moves_through_states(store: Store, now: datetime) -> None:
    store.add_subscriber("daily", "a@x.example", now=now)
    issue = queue_issue(store, now)
    (delivery,) = store.claim_deliveries(now=now, limit=10)
    assert delivery.state is DeliveryState.SENDING and delivery.attempts == 1
    assert store.claim_deliveries(now=now, limit=10) == []  # nobody claims it twice
    assert store.due_deliveries(now) == []
    assert store.recover_interrupted_deliveries(now=now) == 1  # a crash while sending
    (again,) = store.due_deliveries(now)
    assert again.attempts == 1
    (again,) = store.claim_deliveries(now=now, limit=10)
    store.mark_delivery(again.id, DeliveryState.SENT, now=now)
    assert store.delivery_counts(issue.id) == {"sent": 1}


def test_temporary_failure_waits_for_its_retry_time(store: Store, now: datetime) -> None:
    store.add_subscriber("daily", "a@x.example", now=now)
    queue_issue(store, now)
    (delivery,) = store.claim_deliveries(now=now, limit=1)
    retry = now + timedelta(minutes=5)
    store.mark_delivery(
        delivery.id, DeliveryState.PENDING, now=now, error="421 try later", next_attempt_at=retry
    )
    assert store.due_deliveries(now) == []
    (due,) = store.due_deliveries(retry)
    assert due.last_error == "421 try later"


def test_unsubscribe_is_immediate_and_cancels_pending(store: Store, now: datetime) -> None:
    store.add_subscriber("daily", "Reader@X.example", now=now)
    queue_issue(store, now)
    store.remove_subscriber("daily", "reader@x.example", now=now)
    assert store.list_subscribers("daily") == []
    assert store.due_deliveries(now) == []
    with pytest.raises(NotFoundError):
        store.remove_subscriber("daily", "reader@x.example", now=now)
    _, created = store.add_subscriber("daily", "reader@x.example", now=now)
    assert created  # re-subscribing reactivates


def test_config_subscribers_removed_from_config_are_deactivated(
    store: Store, now: datetime
) -> None:
    store.add_subscriber("daily", "cli@x.example", now=now)
    store.sync_config_subscribers(
        [DigestSettings(name="daily", subscribers=("c@x.example",))], now=now
    )
    store.sync_config_subscribers([DigestSettings(name="daily")], now=now)
    assert [s.email for s in store.list_subscribers("daily")] == ["cli@x.example"]


def test_migrations_are_a_no_op_when_current(database_url: str) -> None:
    from aggregator.store import open_store

    first = open_store(database_url)
    first.add_feed("https://a.example/feed", now=datetime(2026, 1, 1, tzinfo=UTC))
    first.close()
    second = open_store(database_url)
    assert len(second.list_feeds()) == 1
    second.close()


def test_an_edit_without_an_updated_date_is_marked_updated(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now, content_html="<p>v1</p>")], now=now)
    later = now + timedelta(hours=2)
    store.upsert_entries(feed.id, [make_entry("a", now, content_html="<p>v2</p>")], now=later)
    (entry,) = store.list_entries()
    assert entry.content_html == "<p>v2</p>" and entry.updated == later
    assert entry.first_seen_at == now and store.count_entries() == 1


def test_a_new_guid_on_the_same_article_is_not_a_duplicate(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    body = {"url": "https://a.example/bao-so-13", "content_html": "<p>Sơ tán 92.000 dân.</p>"}
    store.upsert_entries(feed.id, [make_entry("guid-old", now, **body)], now=now)
    new = store.upsert_entries(feed.id, [make_entry("guid-new", now, **body)], now=now)
    assert new == [] and store.count_entries() == 1
    assert store.list_entries()[0].entry_key == "guid-new"  # the next fetch matches directly
    other = {"url": "https://a.example/bao-so-13", "content_html": "<p>Bài khác hẳn.</p>"}
    added = store.upsert_entries(feed.id, [make_entry("guid-third", now, **other)], now=now)
    assert len(added) == 1  # same link but different content: a different entry


def test_an_unchanged_entry_is_left_alone(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    same = make_entry(
        "a", now, tags=("bão", "miền Trung"), updated=now, author="Lan", content_html="<p>x</p>"
    )
    store.upsert_entries(feed.id, [same], now=now)
    later = now + timedelta(hours=5)
    assert store.upsert_entries(feed.id, [same], now=later) == []
    (stored,) = store.list_entries()
    assert stored.updated == now and stored.first_seen_at == now  # not marked updated
    assert stored.tags == ("bão", "miền Trung") and stored.content_html == "<p>x</p>"


def test_an_edit_with_its_own_date_keeps_that_date(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now, tags=("x",))], now=now)
    edited = make_entry("a", now, tags=("x", "y"), updated=now + timedelta(hours=1))
    store.upsert_entries(feed.id, [edited], now=now + timedelta(hours=3))
    (stored,) = store.list_entries()
    assert stored.tags == ("x", "y") and stored.updated == now + timedelta(hours=1)
    assert stored.first_seen_at == now


def test_an_entry_as_stored_keeps_every_field_it_came_with(now: datetime) -> None:
    # _stored spells Entry's fields out (dataclasses.replace cost too much per entry): a
    # field added to Entry and not to _stored would be dropped silently on every insert.
    values: dict[str, object] = {
        "entry_key": "k",
        "url": "https://news.example/a",
        "title": "T",
        "published": now,
        "feed_id": 3,
        "updated": now,
        "language": "vi",
        "summary": "S",
        "content_html": "<p>C</p>",
        "author": "A",
        "tags": ("x",),
        "enclosures": (Enclosure(url="https://news.example/a.mp3", type="audio/mpeg", length=7),),
        "id": 9,
        "story_id": 4,
        "first_seen_at": now,
        "feed_title": "F",
    }
    assert set(values) == {f.name for f in fields(Entry)}, "give the new field a value here"
    entry = Entry(**values)  # type: ignore[arg-type]
    later = now + timedelta(hours=1)
    assert _stored(entry, 11, 5, later, "Outlet") == replace(
        entry, id=11, feed_id=5, first_seen_at=later, feed_title="Outlet"
    )


def test_a_transaction_keeps_a_documents_entries_and_its_feeds_state_together(
    store: Store, now: datetime
) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_entries(feed.id, [make_entry("lost", now)], now=now)
        store.record_fetch_success(
            feed.id, now=now, next_check_at=now, etag='"lost"', last_modified=""
        )
        raise RuntimeError("the process failed before the end")
    assert store.count_entries() == 0 and store.get_feed(feed.url).etag == ""
    with store.transaction():
        store.upsert_entries(feed.id, [make_entry("kept", now)], now=now)
        store.record_fetch_success(
            feed.id, now=now, next_check_at=now, etag='"kept"', last_modified=""
        )
    assert store.count_entries() == 1 and store.get_feed(feed.url).etag == '"kept"'
    store.upsert_entries(feed.id, [make_entry("alone", now)], now=now)  # a write of its own
    assert store.count_entries() == 2
