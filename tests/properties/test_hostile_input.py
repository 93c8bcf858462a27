"""Property-based: random bytes and mutated feeds never raise anything but our own errors.

Every document either parses into entries that normalize cleanly, or is refused with a
:class:`~aggregator.errors.AggregatorError` (a readable message for the feed's record).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import AggregatorError, ParseError
from aggregator.model import RawDocument
from aggregator.normalize import feed_metadata, to_entries
from aggregator.normalize.dates import parse_date
from aggregator.normalize.sanitize import sanitize_html
from aggregator.normalize.summary import summarize
from aggregator.normalize.text import clean_text, html_to_text
from aggregator.normalize.urls import canonical_url
from aggregator.parse import parse_document
from aggregator.parse.inflate import inflate
from aggregator.store import Store, open_store
from tests.bundled import BUNDLED_FEEDS, FEEDS, ROOT
from tests.conftest import PG_ENV, PG_URL, postgres_schema

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PARSE_FIXTURES = ROOT / "tests" / "parse" / "fixtures"
SEEDS = [(FEEDS / name).read_bytes() for name in BUNDLED_FEEDS] + [
    (PARSE_FIXTURES / name).read_bytes()
    for name in ("rss2_podcast_enclosures.xml", "atom_podcast_enclosures.atom")
]
CONTENT_TYPES = st.sampled_from(
    [
        "",
        "application/rss+xml",
        "application/atom+xml; charset=windows-1258",
        "text/html",
        "application/feed+json",
        "text/plain; charset=utf-16",
        "application/xml; charset=bogus",
    ]
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def scratch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store per module and backend: every example's entries must be storable."""
    if request.param == "sqlite":
        store = open_store(f"sqlite:///{tmp_path_factory.mktemp('props') / 'db.sqlite'}")
        yield store
        store.close()
        return
    if not PG_URL:
        pytest.skip(f"PostgreSQL tests skipped: {PG_ENV} is not set")
    with postgres_schema() as url:
        store = open_store(url)
        yield store
        store.close()


def ingest(store: Store, content: bytes, content_type: str, feeds_only: bool) -> None:
    raw = RawDocument(url="https://feeds.example/x", content=content, content_type=content_type)
    try:
        document = parse_document(raw, feeds_only=feeds_only)
    except AggregatorError:
        return
    entries = to_entries(document, feed_url=raw.url, now=NOW)
    for entry in entries:
        assert entry.published.tzinfo is not None
        assert "<script" not in entry.content_html.lower()
        assert "\n" not in entry.title and "\r" not in entry.title
    feed, _ = store.add_feed(raw.url, now=NOW)
    store.upsert_entries(feed.id, entries, now=NOW)  # whatever normalizes must store
    title, site_url = feed_metadata(document)
    store.record_fetch_success(
        feed.id,
        now=NOW,
        next_check_at=NOW,
        etag="",
        last_modified="",
        title=title,
        site_url=site_url,
    )


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "flip", "repeat"]))
        span = draw(st.integers(1, 200))
        if kind == "cut":
            del data[at : at + span]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64)) or b"&"
        elif kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        else:
            data[at:at] = data[at : at + span]
    return bytes(data)


HOSTILE_SNIPPETS = st.sampled_from(
    [
        b"&#xD800;",
        b"&undefined;",
        b"<![CDATA[",
        b"]]>",
        b"<!DOCTYPE x [<!ENTITY a 'b'>]>",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"<item>",
        b"</channel>",
        b"<entry><title>",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
        b"\x00",
        b"&#0;",
        b"\\ud800",  # JSON escapes: lone halves of a surrogate pair, and a whole pair
        b"\\udfff",
        b"\\ud83d\\ude00",
        # Enclosures: unsafe and unparseable URLs, absurd sizes, in every format's spelling.
        b'<enclosure url="javascript:x" length="-1" type="a/b"/>',
        b'<enclosure url="//[" length="99999999999999999999999" type="\x01"/>',
        b'<link rel="enclosure" href="&#0;" length="1e9"/>',
        b'<media:content xmlns:media="http://search.yahoo.com/mrss/" url="http://[::1"'
        b' medium="video" fileSize="x"/>',
        b'"attachments": [{"url": 5, "size_in_bytes": 1e400}, {"url": "data:,x"}],',
    ]
)


@FAST
@given(st.binary(max_size=4096), CONTENT_TYPES, st.booleans())
def test_random_bytes(scratch: Store, content: bytes, content_type: str, feeds_only: bool) -> None:
    ingest(scratch, content, content_type, feeds_only)


@FAST
@given(mutated(), CONTENT_TYPES)
def test_mutated_bundled_feeds(scratch: Store, content: bytes, content_type: str) -> None:
    ingest(scratch, content, content_type, feeds_only=True)


@FAST
@given(
    st.lists(HOSTILE_SNIPPETS, min_size=1, max_size=8), st.sampled_from(SEEDS), st.integers(0, 4000)
)
def test_hostile_snippets_inside_real_feeds(
    scratch: Store, snippets: list[bytes], seed: bytes, at: int
) -> None:
    ingest(scratch, seed[:at] + b"".join(snippets) + seed[at:], "", feeds_only=False)


@FAST
@given(st.text(max_size=500))
def test_text_helpers_take_any_text(text: str) -> None:
    clean_text(text)
    html_to_text(text)
    summarize(text)
    parse_date(text)
    canonical_url(text, "https://feeds.example/x")
    assert "<script" not in sanitize_html(text, "https://feeds.example/").lower()


@st.composite
def gzip_bodies(draw: st.DrawFn) -> bytes:
    """A bundled feed gzipped, then cut, padded or flipped: what a broken or hostile
    server may send as a gzip body for the parse worker to inflate."""
    data = bytearray(gzip.compress(draw(st.sampled_from(SEEDS))))
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["cut", "flip", "append", "whole"]))
    if kind == "cut":
        del data[at:]
    elif kind == "flip" and at < len(data):
        data[at] ^= draw(st.integers(1, 255))
    elif kind == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


@FAST
@given(st.one_of(gzip_bodies(), st.binary(max_size=512)), st.integers(0, 200_000))
def test_compressed_bodies_inflate_or_fail_with_a_parse_error(body: bytes, limit: int) -> None:
    raw = RawDocument(url="https://feeds.example/x", content=body, content_encoding="gzip")
    try:
        inflated = inflate(raw, limit)
    except ParseError:
        return
    assert len(inflated.content) <= limit and inflated.content_encoding == ""
