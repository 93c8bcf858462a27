"""parse_document on feeds: the bundled feeds, JSON Feed details, and documents we refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.model import RawDocument
from aggregator.normalize import to_entries
from aggregator.parse import parse_document
from tests.bundled import (
    FEEDS,
    FIXED_NOW,
    parse_file,
)

FIXTURES = Path(__file__).parent / "fixtures"


# --- the bundled feeds (counts and formats from feeds/STORIES.md) ----------------------


@pytest.mark.parametrize(
    ("name", "content_type", "fmt", "count", "title"),
    [
        ("tin-nhanh.xml", "application/rss+xml", "rss20", 10, "Tin Nhanh"),
        ("saigon-times-daily.atom", "application/atom+xml", "atom10", 10, "Sài Gòn Nhật Báo"),
        ("mekong-review.rdf", "application/rdf+xml", "rss10", 9, "Mekong Review"),
        ("harbor-tech.json", "application/feed+json", "json1.1", 9, "Harbor Tech Weekly"),
        # 11 <item>s: the duplicate guid is still an item here; normalize drops it.
        ("the-lantern.xml", "application/rss+xml", "rss20", 11, "The Lantern"),
    ],
)
@pytest.mark.parametrize("send_content_type", [True, False], ids=["with-type", "sniffed"])
def test_bundled_feed_parses_with_format_and_entry_count(
    name: str, content_type: str, fmt: str, count: int, title: str, send_content_type: bool
) -> None:
    doc = parse_file(FEEDS / name, content_type if send_content_type else "")
    assert doc.format == fmt
    assert len(doc.entries) == count
    assert doc.title == title
    assert all(entry.title and entry.link for entry in doc.entries)


def test_atom_entries_resolve_relative_links_against_xml_base() -> None:
    doc = parse_file(FEEDS / "saigon-times-daily.atom")
    links = {entry.guid.rsplit(":", 1)[-1]: entry.link for entry in doc.entries}
    assert links["bai-10231"] == (
        "https://saigonnhatbao.example.vn/thoi-su/bao-nakri-ap-sat-mien-trung-so-tan-10231.html"
    )
    # Already absolute in the feed: unchanged.
    assert links["bai-10236"] == (
        "https://saigonnhatbao.example.vn/thoi-su/da-nang-danh-19800-ty-dong-dau-tu-cong-10236.html"
    )


def test_atom_entry_declares_its_language_and_dates() -> None:
    doc = parse_file(FEEDS / "saigon-times-daily.atom")
    entry = next(e for e in doc.entries if e.guid.endswith("bai-10231"))
    assert entry.language == "vi"
    # 2026-11-15T18:40:00+07:00 and 19:05+07:00 in UTC.
    assert entry.published == datetime(2026, 11, 15, 11, 40, tzinfo=UTC)
    assert entry.updated == datetime(2026, 11, 15, 12, 5, tzinfo=UTC)
    assert entry.author == "Hoàng Vy"
    assert entry.tags == ("thoi-su",)


def test_rss_keeps_the_raw_date_text_for_our_own_reader() -> None:
    doc = parse_file(FEEDS / "tin-nhanh.xml")
    cold = next(e for e in doc.entries if "khong-khi-lanh" in e.link)
    # feedparser does not know ICT; normalize must see the original text.
    assert cold.published_text == "Tue, 17 Nov 2026 06:00:00 ICT"


def test_rdf_items_use_rdf_about_as_guid_and_content_encoded_as_content() -> None:
    doc = parse_file(FEEDS / "mekong-review.rdf")
    kratie = next(e for e in doc.entries if "kratie" in e.link)
    assert kratie.guid == (
        "https://mekongreview.example.com/2026/11/17/mekong-kratie-flows-below-average/"
    )
    assert "Kratie gauging station" in kratie.content_html
    assert kratie.summary_html.startswith("The Mekong River Commission says")


# --- JSON Feed -------------------------------------------------------------------------


def test_json_feed_content_text_becomes_escaped_paragraphs() -> None:
    doc = parse_file(FIXTURES / "jsonfeed_content_text.json")
    (entry,) = doc.entries
    assert entry.content_html == (
        "<p>First paragraph with &lt;script&gt;alert(1)&lt;/script&gt; &amp; an ampersand.</p>"
        "<p>Second paragraph, after a blank one.</p>"
    )


def test_json_feed_fields_map_onto_the_entry() -> None:
    doc = parse_file(FIXTURES / "jsonfeed_content_text.json")
    (entry,) = doc.entries
    assert (doc.format, doc.language, doc.site_url) == ("json1.1", "en", "https://wire.example/")
    assert entry.guid == "wire-1"
    assert entry.link == "https://wire.example/2026/11/ports"
    assert entry.title == "Ports & harbours"
    assert entry.published_text == "2026-11-20T09:00:00+07:00"
    assert entry.base_url == "https://wire.example/2026/11/ports"


def test_bundled_json_feed_content_text_item_has_one_paragraph_per_block() -> None:
    doc = parse_file(FEEDS / "harbor-tech.json")
    songpay = next(e for e in doc.entries if e.guid.endswith("songpay-series-b-42m"))
    assert songpay.content_html.count("<p>") == 3
    assert songpay.content_html.startswith("<p>SongPay, the Ho Chi Minh City payments app")
    assert songpay.author == "Daniel Reyes"


def test_json_feed_without_item_authors_falls_back_to_feed_authors() -> None:
    content = (
        b'{"version": "https://jsonfeed.org/version/1", "authors": [{"name": "Desk"}],'
        b' "items": [{"id": 7, "url": "https://a.example/7", "title": "T"}]}'
    )
    doc = parse_document(RawDocument(url="https://a.example/feed.json", content=content))
    (entry,) = doc.entries
    assert doc.format == "json1"
    assert entry.author == "Desk"
    assert entry.guid == "7"  # numeric ids are coerced to text


@pytest.mark.parametrize(
    "name",
    ["jsonfeed_truncated.json", "jsonfeed_without_version.json"],
)
def test_unusable_json_raises_parse_error_naming_the_url(name: str) -> None:
    path = FIXTURES / name
    with pytest.raises(ParseError, match="jsonfeed_"):
        parse_file(path, "application/feed+json")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b'{"version": "https://jsonfeed.org/version/1.1"', "invalid JSON", id="cut"),
        pytest.param(b'{"version": "1.1", "items": []}', "without a JSON Feed version", id="v"),
        pytest.param(b"[1, 2, 3]", "without a JSON Feed version", id="array"),
        pytest.param(b"{\xff\xfe}", "invalid JSON", id="not-utf8"),
        pytest.param(
            b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}',
            "without an items list",
            id="items-not-list",
        ),
        pytest.param(b"[" * 100_000, "nested too deeply", id="deep"),
    ],
)
def test_json_problems_are_parse_errors(content: bytes, problem: str) -> None:
    url = "https://broken.example/feed.json"
    with pytest.raises(ParseError) as caught:
        parse_document(RawDocument(url=url, content=content, content_type="application/json"))
    assert url in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    "field", ["id", "url", "title", "content_html", "summary", "tags", "authors", "content_text"]
)
def test_a_lone_surrogate_escape_costs_one_character_not_the_feed(field: str) -> None:
    """JSON decodes an unpaired \\uD800 escape to a character nothing can store or hash."""
    good = {"id": "1", "url": "https://j.example/1", "title": "Tin \\ud83d\\ude00", "tags": ["t"]}
    lone = "Vi\\ud800t"
    bad: dict[str, object] = {"id": "2", "url": "https://j.example/2", "title": "x"}
    if field == "tags":
        bad[field] = [lone]
    elif field == "authors":
        bad[field] = [{"name": lone}]
    elif field == "url":
        bad[field] = f"https://j.example/{lone}"
    else:
        bad[field] = f"<b>a</b><p>{lone}</p>" if field == "content_html" else lone
    items = ", ".join(
        "{" + ", ".join(f'"{k}": {_json_value(v)}' for k, v in item.items()) + "}"
        for item in (good, bad)
    )
    body = '{"version": "https://jsonfeed.org/version/1.1", "items": [' + items + "]}"
    raw = RawDocument(url="https://j.example/feed.json", content=body.encode())
    document = parse_document(raw)
    entries = to_entries(document, feed_url=raw.url, now=FIXED_NOW)
    assert len(entries) == 2
    assert entries[0].title == "Tin \U0001f600"  # a whole pair is one character
    texts = [
        document.entries[1].guid,
        document.entries[1].link,
        document.entries[1].title,
        document.entries[1].content_html,
        document.entries[1].summary_html,
        document.entries[1].author,
        *document.entries[1].tags,
    ]
    assert any("Vi\ufffdt" in text for text in texts)
    assert not any("\ud800" in text for text in texts)


def _json_value(value: object) -> str:
    """JSON for a test value, keeping our backslash escapes as they are written."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_json_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f'"{k}": {_json_value(v)}' for k, v in value.items()) + "}"


# --- documents that are not feeds ------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"   \n\t  "], ids=["empty", "whitespace"])
def test_empty_body_raises_parse_error_with_the_url(content: bytes) -> None:
    url = "https://empty.example/feed.xml"
    with pytest.raises(ParseError, match="empty.example/feed.xml"):
        parse_document(RawDocument(url=url, content=content, content_type="application/xml"))


def test_xml_that_is_not_a_feed_raises_parse_error_with_the_url() -> None:
    path = FIXTURES / "xml_not_a_feed.xml"
    with pytest.raises(ParseError) as caught:
        parse_file(path, "application/xml")
    assert path.resolve().as_uri() in str(caught.value)
    assert "not a feed" in str(caught.value)


def test_utf16_feed_with_bom_parses_as_rss() -> None:
    doc = parse_file(FIXTURES / "rss2_utf16_bom.xml")
    assert doc.format == "rss20"
    (entry,) = doc.entries
    assert entry.title == "Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng"


def test_feed_served_as_text_html_is_still_parsed_as_a_feed() -> None:
    doc = parse_file(FEEDS / "tin-nhanh.xml", "text/html; charset=utf-8")
    assert doc.format == "rss20"
    assert len(doc.entries) == 10
