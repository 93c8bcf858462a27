"""The bundled sample feeds and ingest fixtures, read the way several stages' tests need them.

``feeds/STORIES.md`` documents every entry, the multi-source events and the noise; the
tables here are the parts of it the tests check against.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from aggregator.model import Entry, ParsedDocument, RawDocument
from aggregator.normalize import to_entries
from aggregator.parse import parse_document

ROOT = Path(__file__).resolve().parent.parent
FEEDS = ROOT / "feeds"
ARTICLES = ROOT / "tests" / "fixtures" / "articles"
FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# Bundled feed -> unique entries in it (the-lantern.xml repeats one item).
BUNDLED_FEEDS = {
    "tin-nhanh.xml": 10,
    "saigon-times-daily.atom": 10,
    "mekong-review.rdf": 9,
    "harbor-tech.json": 9,
    "the-lantern.xml": 10,
}
FEED_IDS = {name: number for number, name in enumerate(BUNDLED_FEEDS, start=1)}
TN, SG, MR, HT, TL = FEED_IDS.values()

# (feed id, a unique part of the entry's canonical URL)
Ref = tuple[int, str]
EVENTS: dict[str, list[Ref]] = {
    "E2 petrol": [(TN, "gia-xang-ron-95"), (SG, "gia-xang-giam-lan-thu-ba")],
    "E3 budget": [(TN, "hdnd-da-nang"), (SG, "da-nang-danh-19800")],
    "E4 bridge": [(TN, "cau-hoa-xuan-2"), (SG, "cau-hoa-xuan-2")],
    "E5 chip plant (vi)": [(TN, "dong-goi-chip-bac-ninh"), (SG, "nha-may-ban-dan")],
    "E7 SongPay round": [
        (HT, "songpay-series-b"),
        (MR, "songpay-series-b"),
        (TL, "songpay-series-b"),
    ],
    "E8 interconnector": [(MR, "500kv-line-deal"), (HT, "500kv-interconnector")],
    "E9 SongPay outage": [(HT, "songpay-outage"), (TL, "songpay-outage")],
}


def raw_of(path: Path, *, url: str = "", content_type: str = "") -> RawDocument:
    return RawDocument(
        url=url or path.resolve().as_uri(), content=path.read_bytes(), content_type=content_type
    )


def parse_file(path: Path, content_type: str = "") -> ParsedDocument:
    return parse_document(raw_of(path, content_type=content_type))


def entries_of(path: Path, now: datetime = FIXED_NOW, url: str = "") -> list[Entry]:
    raw = raw_of(path, url=url)
    return to_entries(parse_document(raw), feed_url=raw.url, now=now)


def by_url_part(entries: list[Entry], part: str) -> Entry:
    (found,) = [entry for entry in entries if part in entry.url]
    return found


def load_bundled() -> list[Entry]:
    """Every bundled entry with a store id and its feed id, as the store would hand them over."""
    entries: list[Entry] = []
    for name, feed_id in FEED_IDS.items():
        for entry in entries_of(FEEDS / name):
            entries.append(dataclasses.replace(entry, id=len(entries) + 1, feed_id=feed_id))
    return entries


def find(entries: list[Entry], ref: Ref) -> Entry:
    feed_id, url_part = ref
    (found,) = [e for e in entries if e.feed_id == feed_id and url_part in e.url]
    return found
