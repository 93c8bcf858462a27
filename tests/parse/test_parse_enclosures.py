"""Enclosures (podcast audio, video, pictures) read from every format and made safe.

RSS 2.0 ``<enclosure>``, Atom ``<link rel="enclosure">``, Media RSS ``<media:content>``
and JSON Feed ``attachments``; the lxml fast path and the feedparser fallback must give
the same enclosures (the fixtures are also in test_parse_fast_path's agreement test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregator.model import Enclosure, Entry, RawDocument
from aggregator.normalize import to_entries
from aggregator.normalize.enclosures import MAX_ENCLOSURES, clean_enclosures, mime_type
from aggregator.parse import feed, parse_document
from aggregator.parse.fast import parse_fast
from tests.bundled import FEEDS, FIXED_NOW, by_url_part, entries_of

FIXTURES = Path(__file__).parent / "fixtures"
RADIO = "https://songhong-radio.example.vn/feed.xml"
CDN = "https://cdn.songhong-radio.example.vn"


def read(name: str, url: str, *, fallback: bool = False) -> dict[str, tuple[Enclosure, ...]]:
    raw = RawDocument(url=url, content=(FIXTURES / name).read_bytes())
    document = feed.parse_xml_feed(raw) if fallback else parse_fast(raw)
    assert document is not None, "the fixture is well-formed: the fast path takes it"
    return {e.title: e.enclosures for e in to_entries(document, feed_url=url, now=FIXED_NOW)}


@pytest.mark.parametrize("fallback", [False, True], ids=["fast-path", "feedparser"])
def test_rss_enclosures_and_media_content_are_kept_with_type_and_size(fallback: bool) -> None:
    found = read("rss2_podcast_enclosures.xml", RADIO, fallback=fallback)
    assert found["Bản tin sáng thứ Hai: giá lúa tăng ở đồng bằng"] == (
        Enclosure(url=f"{CDN}/audio/thu-hai.mp3", type="audio/mpeg", length=12345678),
        Enclosure(url=f"{CDN}/anh/thu-hai.jpg", type="image/jpeg", length=48213),
    )
    # Relative, resolved against the feed; the type without its parameters, lower-cased;
    # "0" (the usual spelling of "unknown") is no length.
    assert found["Bản tin sáng thứ Ba: mưa lớn ở miền Trung"] == (
        Enclosure(
            url="https://songhong-radio.example.vn/audio/thu-ba.m4a", type="audio/mp4", length=None
        ),
    )


@pytest.mark.parametrize("fallback", [False, True], ids=["fast-path", "feedparser"])
def test_unsafe_enclosures_and_players_are_dropped(fallback: bool) -> None:
    found = read("rss2_podcast_enclosures.xml", RADIO, fallback=fallback)
    # javascript: goes; of the Media RSS group the video stays and the Flash player goes.
    assert found["Phóng sự: một ngày ở chợ nổi"] == (
        Enclosure(url=f"{CDN}/video/cho-noi.mp4", type="video/mp4", length=9000000),
    )
    # One file spelled twice (tracking parameter, fragment, upper-case host) is one
    # enclosure with what either listing says of it; an entity-obfuscated javascript:,
    # data: and mailto: URLs are dropped.
    assert found["Trò chuyện cuối tuần"] == (
        Enclosure(url=f"{CDN}/audio/cuoi-tuan.mp3", type="audio/mpeg", length=5000),
    )


@pytest.mark.parametrize("fallback", [False, True], ids=["fast-path", "feedparser"])
def test_atom_enclosure_links_resolve_against_their_xml_base(fallback: bool) -> None:
    url = "https://harbor-talks.example.com/feed.atom"
    found = read("atom_podcast_enclosures.atom", url, fallback=fallback)
    assert found["Episode 41: the new container terminal"] == (
        Enclosure(
            url="https://harbor-talks.example.com/media/episode-41.ogg",
            type="audio/ogg",
            length=30111222,
        ),
        Enclosure(
            url="https://harbor-talks.example.com/media/episode-41.pdf", type="application/pdf"
        ),
    )
    assert found["Episode 40: tides and timetables"] == (
        Enclosure(
            url="https://mirror.harbor-talks.example.com/archive/episode-40.mp3", type="audio/mpeg"
        ),  # a negative length is none
    )
    assert found["Show notes only"] == ()  # rel="related" is not an enclosure


def json_feed(*attachments: object) -> RawDocument:
    item = {"id": "1", "url": "https://pod.example/ep/1", "title": "Ep 1", "attachments": []}
    item["attachments"] = list(attachments)
    body = {"version": "https://jsonfeed.org/version/1.1", "title": "Pod", "items": [item]}
    return RawDocument(url="https://pod.example/feed.json", content=json.dumps(body).encode())


def entry_of(raw: RawDocument) -> Entry:
    (entry,) = to_entries(parse_document(raw), feed_url=raw.url, now=FIXED_NOW)
    return entry


def test_json_feed_attachments_become_enclosures() -> None:
    entry = entry_of(
        json_feed(
            {"url": "media/ep1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 2.5e6},
            {"url": "javascript:alert(1)", "mime_type": "audio/mpeg"},
            {"mime_type": "audio/mpeg"},  # no URL
            "not an object",
            {"url": "https://pod.example/ep1.txt", "mime_type": 7, "size_in_bytes": "12"},
        )
    )
    assert entry.enclosures == (
        Enclosure(url="https://pod.example/ep/media/ep1.mp3", type="audio/mpeg", length=2500000),
        Enclosure(url="https://pod.example/ep1.txt", type="", length=12),
    )


def test_attachments_that_are_not_a_list_are_none() -> None:
    assert entry_of(json_feed()).enclosures == ()
    raw = json_feed()
    hostile = json.loads(raw.content)
    hostile["items"][0]["attachments"] = {"url": "https://pod.example/x.mp3"}
    broken = RawDocument(url=raw.url, content=json.dumps(hostile).encode())
    assert entry_of(broken).enclosures == ()


def test_a_feed_cannot_make_an_entry_carry_unbounded_enclosures() -> None:
    many = [Enclosure(url=f"https://cdn.example/{n}.mp3") for n in range(1000)]
    kept = clean_enclosures(many, "")
    assert [e.url for e in kept] == [f"https://cdn.example/{n}.mp3" for n in range(MAX_ENCLOSURES)]


def test_the_first_listing_of_a_file_keeps_its_place_and_fills_in_from_the_others() -> None:
    kept = clean_enclosures(
        [
            Enclosure(url="https://cdn.example/a.mp3", length=10),
            Enclosure(url="https://cdn.example/b.mp3", type="audio/mpeg"),
            Enclosure(url="https://CDN.example/a.mp3#t=1", type="audio/mpeg", length=99),
        ],
        "",
    )
    assert kept == (
        Enclosure(url="https://cdn.example/a.mp3", type="audio/mpeg", length=10),
        Enclosure(url="https://cdn.example/b.mp3", type="audio/mpeg"),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("audio/mpeg", "audio/mpeg"),
        (" Video/MP4 ; codecs=avc1", "video/mp4"),
        ("application/vnd.apple.mpegurl", "application/vnd.apple.mpegurl"),
        ("audio", ""),
        ("audio/mpeg<script>", ""),
        ('audio/"mpeg"', ""),
        ("", ""),
    ],
)
def test_a_type_is_a_mime_type_or_nothing(value: str, expected: str) -> None:
    assert mime_type(value) == expected


def test_an_item_without_enclosures_has_none() -> None:
    raw = RawDocument(
        url=RADIO,
        content=b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>a</title><link>https://x.example/a</link></item></channel></rss>",
    )
    (entry,) = to_entries(parse_document(raw), feed_url=RADIO, now=FIXED_NOW)
    assert entry.enclosures == ()


def test_the_bundled_news_feed_carries_an_audio_bulletin() -> None:
    entry = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "bao-nakri-manh-cap-12")
    assert entry.enclosures == (
        Enclosure(
            url="https://tin-nhanh.example.vn/audio/ban-tin-bao-nakri-tn2611150.mp3",
            type="audio/mpeg",
            length=1843200,
        ),
    )
