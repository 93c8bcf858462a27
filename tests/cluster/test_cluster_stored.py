"""Clustering through the store: signatures are computed once, kept, and used by later passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import update

from aggregator import pipeline
from aggregator.cluster.signature import VERSION
from aggregator.config import Settings
from aggregator.model import Entry, RawDocument
from aggregator.store import Store, open_store
from aggregator.store.schema import entries, entry_signatures
from tests.bundled import FEEDS

# Events of feeds/STORIES.md that both Vietnamese feeds report: (tin-nhanh, saigon-times).
SHARED = {
    "E2 petrol": ("gia-xang-ron-95", "gia-xang-giam-lan-thu-ba"),
    "E3 budget": ("hdnd-da-nang", "da-nang-danh-19800"),
    "E4 bridge": ("cau-hoa-xuan-2", "cau-hoa-xuan-2"),
}


TN, SG = "tin-nhanh.xml", "saigon-times-daily.atom"
TYPES = {TN: "application/rss+xml", SG: "application/atom+xml"}


def read(store: Store, settings: Settings, name: str, now: datetime) -> None:
    feed, _ = store.add_feed(f"https://feeds.example/{name}", now=now)
    raw = RawDocument(url=feed.url, content=(FEEDS / name).read_bytes(), content_type=TYPES[name])
    pipeline.store_document(store, feed, raw, settings, now)


def story_of(store: Store, name: str, part: str) -> int | None:
    feed_id = store.get_feed(f"https://feeds.example/{name}").id
    (found,) = [e for e in all_entries(store) if e.feed_id == feed_id and part in e.url]
    return found.story_id


def all_entries(store: Store) -> list[Entry]:
    return store.list_entries(limit=500)


@pytest.fixture
def first_pass(
    make_settings: Callable[..., Settings], database_url: str, now: datetime
) -> Iterator[tuple[Store, Settings]]:
    """A store with tin-nhanh read and clustered: every entry in a story."""
    settings = make_settings(database_url=database_url)
    store = open_store(settings.storage.url)
    read(store, settings, TN, now)
    assert pipeline.cluster_new_entries(store, settings, now=now) == 10
    yield store, settings
    store.close()


def second_pass(store: Store, settings: Settings, now: datetime) -> None:
    """Saigon Times read and clustered against the stored tin-nhanh stories."""
    read(store, settings, SG, now)
    assert pipeline.cluster_new_entries(store, settings, now=now) == 10


def test_a_later_pass_joins_stored_stories_through_their_stored_signatures(
    first_pass: tuple[Store, Settings], now: datetime
) -> None:
    store, settings = first_pass
    ids = [e.id for e in all_entries(store) if e.id]
    assert set(store.entry_signatures(ids)) == set(ids)
    # Blank the stored text behind the store's back: only the signatures still know it.
    with store.db.write() as conn:
        conn.execute(update(entries).values(title="", summary="", content_html=""))
    second_pass(store, settings, now)
    for tn_part, sg_part in SHARED.values():
        first = story_of(store, TN, tn_part)
        assert first is not None
        assert story_of(store, SG, sg_part) == first
    ids = [e.id for e in all_entries(store) if e.id]
    assert set(store.entry_signatures(ids)) == set(ids)


def test_signatures_of_another_version_are_computed_again_and_replaced(
    first_pass: tuple[Store, Settings], now: datetime
) -> None:
    store, settings = first_pass
    with store.db.write() as conn:
        conn.execute(update(entry_signatures).values(version=VERSION - 1, data=b"old"))
    second_pass(store, settings, now)
    for tn_part, sg_part in SHARED.values():
        assert story_of(store, SG, sg_part) == story_of(store, TN, tn_part)
    stored = store.entry_signatures([e.id for e in all_entries(store) if e.id])
    assert {s.version for s in stored.values()} == {VERSION}


def test_an_edited_entry_loses_its_signature_and_gets_a_fresh_one(
    first_pass: tuple[Store, Settings], now: datetime
) -> None:
    store, settings = first_pass
    (entry, *_) = all_entries(store)
    assert entry.id is not None
    before = store.entry_signatures([entry.id])[entry.id]
    store.upsert_entries(entry.feed_id, [replace(entry, title="Tin sửa: " + entry.title)], now=now)
    assert store.entry_signatures([entry.id]) == {}
    second_pass(store, settings, now)
    after = store.entry_signatures([entry.id])
    assert entry.id in after and after[entry.id] != before
