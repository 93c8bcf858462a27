"""Enclosures in the store: kept with their entry on both backends, an edit to them is an
edit, and entries stored before migration 0007 get theirs without being marked updated."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import create_engine, inspect, text

from aggregator.model import Enclosure, Entry
from aggregator.store import Store, open_store
from tests.store.test_migration_0006 import alembic

AUDIO = Enclosure(url="https://cdn.example/ep1.mp3", type="audio/mpeg", length=31_000_000)
PICTURE = Enclosure(url="https://cdn.example/ep1.jpg", type="image/jpeg")


def episode(published: datetime, *enclosures: Enclosure) -> Entry:
    return Entry(
        entry_key="ep1",
        url="https://pod.example/ep1",
        title="Tập 1: chuyện ở bến cảng",
        published=published,
        content_html="<p>Ghi chú của tập.</p>",
        enclosures=enclosures,
    )


def test_enclosures_are_stored_and_read_back_in_order(store: Store, now: datetime) -> None:
    feed, _ = store.add_feed("https://pod.example/feed", now=now)
    store.upsert_entries_counted(feed.id, [episode(now, AUDIO, PICTURE)], now=now)
    (stored,) = store.list_entries()
    assert stored.enclosures == (AUDIO, PICTURE)
    assert store.entries_by_id([stored.id or 0])[0].enclosures == (AUDIO, PICTURE)


def test_a_changed_enclosure_is_an_edit_and_an_unchanged_one_is_not(
    store: Store, now: datetime
) -> None:
    feed, _ = store.add_feed("https://pod.example/feed", now=now)
    store.upsert_entries(feed.id, [episode(now, AUDIO)], now=now)
    later = now + timedelta(hours=1)
    store.upsert_entries(feed.id, [episode(now, AUDIO)], now=later)
    assert store.list_entries()[0].updated is None  # listed again, unchanged
    fixed = Enclosure(url="https://cdn.example/ep1-fixed.mp3", type="audio/mpeg", length=30)
    store.upsert_entries(feed.id, [episode(now, fixed)], now=later)
    (stored,) = store.list_entries()
    assert stored.enclosures == (fixed,) and stored.updated == later
    assert store.count_entries() == 1


def test_entries_stored_before_0007_get_their_enclosures_without_an_update(
    database_url: str, now: datetime
) -> None:
    store = open_store(database_url)
    try:
        feed, _ = store.add_feed("https://pod.example/feed", now=now)
        store.upsert_entries(feed.id, [episode(now, AUDIO)], now=now)
        # What the migration leaves on the rows it finds: NULL, "not read yet".
        with store.db.write() as conn:
            conn.execute(text("UPDATE entries SET enclosures = NULL"))
        (before,) = store.list_entries()
        assert before.enclosures == ()
        store.upsert_entries(feed.id, [episode(now, AUDIO)], now=now + timedelta(days=1))
        (after,) = store.list_entries()
        assert after.enclosures == (AUDIO,)
        assert after.updated is None  # filled in, not an edit a reader is told about
    finally:
        store.close()


def test_0007_keeps_the_entries_and_downgrades_cleanly(database_url: str, now: datetime) -> None:
    alembic(database_url, "upgrade", "0006")
    engine = create_engine(database_url)
    stamp = now.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feeds (url, title, site_url, tags, origin, etag, last_modified,"
                " error_count, last_error, created_at, status, moved_to, moved_count, kind)"
                " VALUES ('https://pod.example/feed', '', '', '[]', 'user', '', '', 0, '',"
                " :now, 'active', '', 0, 'feed')"
            ),
            {"now": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO entries (feed_id, entry_key, url, title, author, published_at,"
                " first_seen_at, language, summary, content_html, tags)"
                " SELECT id, 'old', 'https://pod.example/old', 'Old', '', :now, :now, 'vi',"
                " '', '<p>x</p>', '[]' FROM feeds"
            ),
            {"now": stamp},
        )
    store = open_store(database_url)  # migrates to the head at start-up
    try:
        (old,) = store.list_entries()
        assert old.title == "Old" and old.enclosures == ()
    finally:
        store.close()
    alembic(database_url, "downgrade", "0006")
    assert "enclosures" not in {c["name"] for c in inspect(engine).get_columns("entries")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM entries")).scalar_one() == 1
    engine.dispose()
