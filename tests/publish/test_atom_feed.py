"""Our Atom output, read back with an independent parser (feedparser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import feedparser

from aggregator.config import PublishSettings
from aggregator.model import Entry
from aggregator.publish import render_atom
from aggregator.publish.atom import entry_atom_id


def entries(now: datetime) -> list[Entry]:
    return [
        Entry(
            id=n,
            feed_id=1 + n % 2,
            entry_key=f"key{n}",
            url=f"https://news.example/{n}",
            title=f"Tiêu đề số {n} & <b>",
            published=now - timedelta(hours=n),
            summary="Tóm tắt ngắn.",
            content_html='<p>Nội dung <a href="https://a.example/">link</a></p>',
            author="Phóng viên" if n % 2 else "",
            feed_title="Tin Nhanh",
            tags=("vi",),
        )
        for n in range(5)
    ]


def test_feed_round_trips_through_feedparser(now: datetime) -> None:
    settings = PublishSettings(base_url="https://agg.example", title="Agg")
    items = entries(now)
    parsed = feedparser.parse(render_atom(items, settings=settings, now=now))
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Agg"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == "https://agg.example/feeds/all.atom"
    assert links["alternate"] == "https://agg.example/"
    assert [e.id for e in parsed.entries] == [entry_atom_id(e) for e in items]
    assert len({e.id for e in parsed.entries}) == len(items)
    first = parsed.entries[0]
    assert first.title == "Tiêu đề số 0 & <b>"
    assert first.link == "https://news.example/0"
    assert "Nội dung" in first.content[0].value
    assert first.author == "Tin Nhanh" and parsed.entries[1].author == "Phóng viên"
    assert datetime(*first.published_parsed[:6], tzinfo=UTC) == now


def test_entry_ids_are_stable_urns_that_depend_on_feed_and_key(now: datetime) -> None:
    one, two = entries(now)[:2]
    assert entry_atom_id(one) == entry_atom_id(one)
    assert entry_atom_id(one).startswith("urn:uuid:")
    assert entry_atom_id(one) != entry_atom_id(two)


def test_an_empty_feed_is_still_valid(now: datetime) -> None:
    parsed = feedparser.parse(render_atom([], settings=PublishSettings(), now=now))
    assert parsed.bozo == 0 and parsed.entries == []
