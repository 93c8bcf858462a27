"""Unicode clean-up and dates: what to_entries makes of titles, texts and date strings."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.normalize.dates import clamp_date, parse_date
from aggregator.normalize.sanitize import sanitize_html
from aggregator.normalize.text import (
    OTHER_WHITE_SPACE,
    clean_html_text,
    clean_text,
    html_to_text,
    sanitized_html_blocks,
    sanitized_html_to_text,
    scrub_characters,
)
from tests.bundled import (
    ARTICLES,
    BUNDLED_FEEDS,
    FEEDS,
    FIXED_NOW,
    by_url_part,
    entries_of,
    parse_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
ICT = timezone(timedelta(hours=7))


# --- Unicode ---------------------------------------------------------------------------


def test_nfd_title_equals_the_nfc_title_of_the_same_story() -> None:
    tn_doc = parse_file(FEEDS / "tin-nhanh.xml")
    raw_title = next(e.title for e in tn_doc.entries if "hoa-xuan-2" in e.link)
    assert not unicodedata.is_normalized("NFC", raw_title)  # the feed really is decomposed

    tn = by_url_part(entries_of(FEEDS / "tin-nhanh.xml"), "hoa-xuan-2")
    sg = by_url_part(entries_of(FEEDS / "saigon-times-daily.atom"), "hoa-xuan-2")
    assert tn.title == sg.title == "Đà Nẵng thông xe cầu Hòa Xuân 2 sớm hai tháng"
    assert unicodedata.is_normalized("NFC", tn.title)


def test_zero_width_space_is_removed_from_the_title() -> None:
    lantern_doc = parse_file(FEEDS / "the-lantern.xml")
    raw_title = next(e.title for e in lantern_doc.entries if "songpay-series-b" in e.link)
    assert "\u200b" in raw_title

    entry = by_url_part(entries_of(FEEDS / "the-lantern.xml"), "songpay-series-b")
    assert entry.title == "SongPay raises $42 million in Series B"


def test_non_breaking_spaces_become_plain_spaces_in_summaries() -> None:
    tn = entries_of(FEEDS / "tin-nhanh.xml")
    nakri = by_url_part(tn, "bao-nakri")
    petrol = by_url_part(tn, "gia-xang")
    assert "430 km" in nakri.summary  # a literal U+00A0 in the feed
    assert "19.876 đồng" in petrol.summary  # &amp;nbsp; inside escaped HTML
    assert "19.102 đồng/lít" in petrol.summary  # &#160; as an XML character reference


def test_no_bundled_title_or_summary_keeps_invisible_or_odd_spaces() -> None:
    for name in BUNDLED_FEEDS:
        for entry in entries_of(FEEDS / name):
            for text in (entry.title, entry.summary):
                assert unicodedata.is_normalized("NFC", text)
                assert not any(ch in text for ch in "\u200b\u00a0\ufeff\u00ad")
                assert "  " not in text and text == text.strip()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\u00a0\u00a0b", "a b"),
        ("  lead and trail \n", "lead and trail"),
        ("zero\u200bwidth\u200cjoin\u200d\u2060ers", "zerowidthjoiners"),
        ("\ufeffBOM", "BOM"),
        ("soft\u00adhyphen", "softhyphen"),
        ("ca\u0300 phe\u0302\u0301", "cà phế"),
        ("tabs\tand\nnewlines", "tabs and newlines"),
    ],
)
def test_clean_text(value: str, expected: str) -> None:
    assert clean_text(value) == expected


def test_html_to_text_separates_blocks_and_drops_scripts() -> None:
    markup = "<p>One&nbsp;two</p><script>var x = 1;</script><ul><li>three</li></ul>four"
    assert html_to_text(markup) == "One two\n\nthree\n\nfour"


def test_entities_are_decoded_once_not_twice() -> None:
    sg = by_url_part(entries_of(FEEDS / "saigon-times-daily.atom"), "gia-xang")
    # The feed escapes "&nbsp;" and "&#8211;" once for XML: one decoding is right.
    assert "&amp;nbsp;" not in sg.content_html
    assert "&amp;#8211;" not in sg.content_html
    assert "Bộ Công Thương – Tài chính" in html_to_text(sg.content_html)
    assert "“dễ thở hơn”" in html_to_text(sg.content_html)


# --- dates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ISO 8601 / RFC 3339
        ("2026-11-15T18:40:00+07:00", datetime(2026, 11, 15, 11, 40, tzinfo=UTC)),
        ("2026-11-18T06:30:00Z", datetime(2026, 11, 18, 6, 30, tzinfo=UTC)),
        ("2026-11-19T12:00:00-05:00", datetime(2026, 11, 19, 17, 0, tzinfo=UTC)),
        ("2026-11-20T10:00:00.5+07:00", datetime(2026, 11, 20, 3, 0, 0, 500000, tzinfo=UTC)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        # RFC 822
        ("Sun, 15 Nov 2026 10:30:00 +0700", datetime(2026, 11, 15, 3, 30, tzinfo=UTC)),
        ("Tue, 17 Nov 2026 06:00:00 ICT", datetime(2026, 11, 16, 23, 0, tzinfo=UTC)),
        ("Mon, 23 Nov 2026 02:30:00 GMT", datetime(2026, 11, 23, 2, 30, tzinfo=UTC)),
        ("Wed, 18 Nov 26 07:45:00 GMT", datetime(2026, 11, 18, 7, 45, tzinfo=UTC)),
        ("Thu, 19 Nov 2026 10:00:00 CET", datetime(2026, 11, 19, 9, 0, tzinfo=UTC)),
        # day-first Vietnamese forms (no zone: UTC by default)
        ("21/11/2026", datetime(2026, 11, 21, tzinfo=UTC)),
        ("21/11/2026 10:45", datetime(2026, 11, 21, 10, 45, tzinfo=UTC)),
        ("21/11/2026, 10:45", datetime(2026, 11, 21, 10, 45, tzinfo=UTC)),
        ("ngày 21/11/2026", datetime(2026, 11, 21, tzinfo=UTC)),
        ("Ngày 1/2/2026", datetime(2026, 2, 1, tzinfo=UTC)),
        ("21-2-2026 lúc 11h04", datetime(2026, 2, 21, 11, 4, tzinfo=UTC)),
        ("21/11/2026 10:45 (GMT+7)", datetime(2026, 11, 21, 3, 45, tzinfo=UTC)),
        ("21/11/2026 10:45 GMT+07:00", datetime(2026, 11, 21, 3, 45, tzinfo=UTC)),
    ],
)
def test_parse_date_returns_the_instant_in_utc(text: str, expected: datetime) -> None:
    found = parse_date(text)
    assert found == expected
    assert found is not None and found.utcoffset() == timedelta(0)


def test_day_first_date_without_zone_is_read_in_the_default_zone() -> None:
    assert parse_date("21/11/2026 10:45", default_tz=ICT) == datetime(
        2026, 11, 21, 3, 45, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text", ["", "   ", "yesterday", "32/13/2026", "2026-13-45", "Thứ Bảy", "12:30"]
)
def test_parse_date_returns_none_for_what_it_cannot_read(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, FIXED_NOW),
        (FIXED_NOW - timedelta(days=30), FIXED_NOW - timedelta(days=30)),
        (FIXED_NOW + timedelta(hours=23), FIXED_NOW + timedelta(hours=23)),
        (FIXED_NOW + timedelta(days=1, seconds=1), FIXED_NOW),
        (FIXED_NOW + timedelta(days=365), FIXED_NOW),
    ],
    ids=["missing", "past", "within-a-day", "just-over-a-day", "next-year"],
)
def test_clamp_date(value: datetime | None, expected: datetime) -> None:
    assert clamp_date(value, FIXED_NOW) == expected


@pytest.mark.parametrize(
    ("guid", "expected"),
    [
        ("numeric-zone", datetime(2026, 11, 15, 3, 30, tzinfo=UTC)),
        ("ict", datetime(2026, 11, 16, 23, 0, tzinfo=UTC)),
        ("two-digit-year", datetime(2026, 11, 18, 7, 45, tzinfo=UTC)),
        ("day-first", datetime(2026, 11, 21, 3, 45, tzinfo=UTC)),
        ("missing", FIXED_NOW),
        ("unreadable", FIXED_NOW),
        ("next-week", FIXED_NOW),
        ("twenty-hours-ahead", datetime(2026, 11, 24, 8, 0, tzinfo=UTC)),
    ],
)
def test_entry_published_dates(guid: str, expected: datetime) -> None:
    entries = entries_of(FIXTURES / "rss2_dates.xml")
    (entry,) = [e for e in entries if e.url.endswith("/" + guid)]
    assert entry.published == expected


@pytest.mark.parametrize(
    ("name", "url_part", "expected"),
    [
        ("tin-nhanh.xml", "bao-nakri", datetime(2026, 11, 15, 3, 30, tzinfo=UTC)),
        # "Tue, 17 Nov 2026 06:00:00 ICT"; feedparser alone would say 06:00 UTC.
        ("tin-nhanh.xml", "khong-khi-lanh", datetime(2026, 11, 16, 23, 0, tzinfo=UTC)),
        ("saigon-times-daily.atom", "10231", datetime(2026, 11, 15, 11, 40, tzinfo=UTC)),
        ("mekong-review.rdf", "kratie", datetime(2026, 11, 17, 8, 30, tzinfo=UTC)),
        ("harbor-tech.json", "songpay-outage", datetime(2026, 11, 22, 4, 15, tzinfo=UTC)),
        ("the-lantern.xml", "hai-au", datetime(2026, 11, 18, 7, 45, tzinfo=UTC)),
        ("the-lantern.xml", "bangkok-pm25", FIXED_NOW),
    ],
)
def test_bundled_entry_dates_in_utc(name: str, url_part: str, expected: datetime) -> None:
    assert by_url_part(entries_of(FEEDS / name), url_part).published == expected


def test_missing_date_follows_the_clock_passed_in() -> None:
    later = FIXED_NOW + timedelta(hours=5)
    entry = by_url_part(entries_of(FEEDS / "the-lantern.xml", now=later), "bangkok-pm25")
    assert entry.published == later


def test_scraped_article_date_honours_its_stated_zone() -> None:
    (entry,) = entries_of(ARTICLES / "vi_scraped_article.txt")
    # "Thứ Bảy, 21/11/2026 10:45 (GMT+7)"
    assert entry.published == datetime(2026, 11, 21, 3, 45, tzinfo=UTC)


def test_html_page_date_comes_from_its_metadata() -> None:
    (entry,) = entries_of(ARTICLES / "vi_article_page.html")
    assert entry.published == datetime(2026, 11, 19, 10, 45, tzinfo=UTC)


def _stdlib_text(markup: str) -> str:
    from aggregator.normalize.text import _SPACES, _TextExtractor, clean_html_text

    extractor = _TextExtractor()
    extractor.feed(scrub_characters(markup))
    extractor.close()
    blocks = (
        _SPACES.sub(" ", b).strip() for b in clean_html_text("".join(extractor.parts)).split("\n")
    )
    return "\n\n".join(b for b in blocks if b)


@pytest.mark.parametrize(
    "markup",
    [
        "<p>a<!-- note --> b</p><script>x()</script>tail",
        "<p>x<?pi y?> z</p>",
        "<div><p>One&nbsp;two</p><ul><li>three</li></ul></div>four",
        "<p>Đa\u0300 Nẵng<br>Hội An</p><style>p{}</style>",
    ],
)
def test_the_fast_text_path_reads_like_the_tolerant_one(markup: str) -> None:
    assert html_to_text(markup) == _stdlib_text(markup)


def test_both_text_paths_agree_on_every_bundled_body() -> None:
    bodies = [
        e.content_html or e.summary_html
        for name in BUNDLED_FEEDS
        for e in parse_file(FEEDS / name).entries
        if "<" in (e.content_html or e.summary_html)
    ]
    assert len(bodies) >= 15
    for body in bodies:
        assert html_to_text(body) == _stdlib_text(body)


# --- the text of sanitized HTML: its shortcut for single-spaced text ------------------


def test_other_white_space_is_every_white_space_character_but_the_space() -> None:
    every = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert OTHER_WHITE_SPACE == every.replace(" ", "")


_PIECES = st.sampled_from(
    ["<p>", "</p>", "<br>", "<b>", "</b>", "<li>", " ", " ", "a", "bc", "&amp;", "d e", "&#32;"]
)


@given(st.lists(_PIECES, max_size=20).map("".join))
@settings(max_examples=300, deadline=None)
def test_single_spaced_text_reads_as_with_white_space_collapsed_block_by_block(
    markup: str,
) -> None:
    # A tab anywhere takes the general path; it is white space, so the text is the same.
    assert sanitized_html_to_text(markup) == sanitized_html_to_text(markup + "\t")


# --- the paragraphs of sanitized HTML, read lazily -------------------------------------

_SANITIZED_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<b>",
        "</b>",
        "<li>",
        '<td colspan="2">',
        '<a href="https://x.example/" title="<p>">',
        '<img src="https://x.example/i.png" alt="a<br>b">',
        "</a>",
        " ",
        "  ",
        "\n",
        "\xa0",
        "a",
        "bc",
        "e\u0301",
        "\u0301",
        "&amp;",
        "&lt;",
        "&nbsp;",
        "&amp",
        "&",
        "<",
        ">",
    ]
)


@given(st.lists(_SANITIZED_PIECES, max_size=24).map("".join))
@settings(max_examples=800, deadline=None)
def test_paragraphs_read_lazily_make_the_text(markup: str) -> None:
    assert "\n\n".join(sanitized_html_blocks(markup)) == sanitized_html_to_text(markup)


@given(st.text(alphabet="<>/pba &;\n\u0301e", max_size=40))
@settings(max_examples=500, deadline=None)
def test_paragraphs_of_sanitizer_output_make_its_text(markup: str) -> None:
    clean = sanitize_html(markup, "https://x.example/")
    assert "\n\n".join(sanitized_html_blocks(clean)) == sanitized_html_to_text(clean)


def test_the_regex_and_str_split_take_the_same_white_space() -> None:
    every = "".join(map(chr, range(0x110000)))
    assert re.findall(r"\s", every) == [c for c in every if c.isspace()]


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40))
@settings(max_examples=300, deadline=None)
def test_clean_text_collapses_white_space_as_the_regex_did(value: str) -> None:
    assert clean_text(value) == re.sub(r"\s+", " ", clean_html_text(value)).strip()
