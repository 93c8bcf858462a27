"""Retention on every backend: pruned entries leave tombstones, and tombstones expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.config import DigestSettings
from aggregator.model import ClusterPlan, DeliveryState, Entry, IssueSource, IssueStory, NewStory
from aggregator.store import Store

DAY = timedelta(days=1)


def make_entry(key: str, published: datetime) -> Entry:
    return Entry(
        entry_key=key, published=published, url=f"https://news.example/{key}", title=f"T {key}"
    )


def keys(store: Store) -> list[str]:
    return sorted(e.entry_key for e in store.list_entries(limit=100))


def test_pruned_entries_never_come_back_as_new(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now), make_entry("b", now)], now=now)
    store.upsert_entries(feed.id, [make_entry("c", now)], now=now + 20 * DAY)

    report = store.prune_entries(
        now=now + 31 * DAY, older_than=now + 1 * DAY, tombstones_before=now
    )

    assert (report.entries, report.tombstones_expired) == (2, 0)
    assert keys(store) == ["c"]
    batch = [make_entry(k, now) for k in "abc"]
    assert store.upsert_entries(feed.id, batch, now=now + 32 * DAY) == []
    assert keys(store) == ["c"]  # not stored again either


def test_a_tombstone_expires_only_once_its_item_is_no_longer_listed(
    store: Store, now: datetime
) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now), make_entry("b", now)], now=now)
    store.prune_entries(now=now + 10 * DAY, older_than=now + DAY, tombstones_before=now)
    # The feed lists "b" again on day 40 (still not new), "a" was last listed on day 10.
    assert store.upsert_entries(feed.id, [make_entry("b", now)], now=now + 40 * DAY) == []

    report = store.prune_entries(
        now=now + 45 * DAY, older_than=None, tombstones_before=now + 15 * DAY
    )

    assert report.tombstones_expired == 1 and report.entries == 0
    back = store.upsert_entries(
        feed.id, [make_entry("a", now), make_entry("b", now)], now=now + 46 * DAY
    )
    assert [e.entry_key for e in back] == ["a"]  # new again; "b" is still buried


def _story(store: Store, entry: Entry, now: datetime) -> int:
    assert entry.id is not None
    store.apply_cluster_plan(
        ClusterPlan(new_stories=[NewStory(title=entry.title, entry_ids=(entry.id,))]), now=now
    )
    (stored,) = [e for e in store.list_entries(limit=100) if e.id == entry.id]
    assert stored.story_id is not None
    return stored.story_id


def _issue(store: Store, story_id: int, created: datetime) -> int:
    issue = store.create_issue(
        digest="daily",
        title="Daily",
        window_start=None,
        window_end=created,
        stories=[
            IssueStory(
                story_id=story_id,
                headline="H",
                url="https://news.example/x",
                summary="",
                published=datetime(2026, 11, 1, tzinfo=UTC),
                sources=(IssueSource(feed_title="F", title="H", url="https://news.example/x"),),
            )
        ],
        now=created,
        next_run_at=created + DAY,
    )
    return issue.id


def test_entries_of_recent_or_undelivered_issues_are_kept_and_empty_stories_go(
    store: Store, now: datetime
) -> None:
    store.sync_config_subscribers(
        [DigestSettings(name="daily", subscribers=("a@x.example",))], now=now
    )
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    new = store.upsert_entries(feed.id, [make_entry(k, now) for k in "abc"], now=now)
    story = {e.entry_key: _story(store, e, now) for e in new}
    # "b" went out in an old issue that is still being delivered; "a" in a recent one.
    _issue(store, story["a"], now + 25 * DAY)
    old_issue = _issue(store, story["b"], now + DAY)
    for delivery in store.due_deliveries(now + 40 * DAY):
        if delivery.issue_id != old_issue:
            store.mark_delivery(delivery.id, DeliveryState.SENT, now=now + 25 * DAY)

    later = now + 40 * DAY
    report = store.prune_entries(now=later, older_than=later - 30 * DAY, tombstones_before=now)

    assert (report.entries, report.stories) == (1, 1)
    assert keys(store) == ["a", "b"]
    assert {s.id for s in store.list_stories()} == {story["a"], story["b"]}

    (pending,) = store.due_deliveries(later)
    store.mark_delivery(pending.id, DeliveryState.SENT, now=later)
    report = store.prune_entries(now=later, older_than=later - 30 * DAY, tombstones_before=now)
    assert (report.entries, report.stories) == (1, 1)
    assert keys(store) == ["a"]


def test_no_retention_keeps_every_entry(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now)], now=now)
    report = store.prune_entries(now=now + 999 * DAY, older_than=None, tombstones_before=now)
    assert report.entries == 0 and keys(store) == ["a"]


def test_a_pruned_article_counts_as_known_to_a_page_source(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/", now=now, kind="page")
    store.upsert_entries(feed.id, [make_entry("a", now), make_entry("b", now)], now=now)
    store.prune_entries(now=now + 9 * DAY, older_than=now + DAY, tombstones_before=now)
    store.upsert_entries(feed.id, [make_entry("c", now)], now=now + 9 * DAY)
    links = [f"https://news.example/{k}" for k in "abcd"]
    # Listed on day 20, so still buried after a prune that expires tombstones before day 15.
    assert store.known_urls(feed.id, links, now=now + 20 * DAY) == set(links[:3])
    report = store.prune_entries(
        now=now + 21 * DAY, older_than=None, tombstones_before=now + 15 * DAY
    )
    assert report.tombstones_expired == 0


def test_removing_a_feed_removes_its_tombstones(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://a.example/feed", now=now)
    store.upsert_entries(feed.id, [make_entry("a", now)], now=now)
    store.prune_entries(now=now + 9 * DAY, older_than=now + DAY, tombstones_before=now)
    store.remove_feed(feed.url)
    again, _ = store.add_feed("https://a.example/feed", now=now + 10 * DAY)
    back = store.upsert_entries(again.id, [make_entry("a", now)], now=now + 10 * DAY)
    assert [e.entry_key for e in back] == ["a"]
