"""A polled feed's gzip body, handed to its parse worker compressed, is inflated there
within the fetch's size limit; whatever the bytes, the error is a ParseError."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import pytest

from aggregator.errors import ParseError
from aggregator.model import RawDocument
from aggregator.parse.inflate import inflate
from aggregator.workers import Job, prepare

FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>B\xc3\xa3o s\xe1\xbb\x91 3</title><link>https://a.example/1</link></item>"
    b"</channel></rss>"
)


def compressed(body: bytes, url: str = "https://a.example/feed") -> RawDocument:
    return RawDocument(url=url, content=gzip.compress(body), content_encoding="gzip")


def test_a_gzip_body_is_inflated_and_marked_plain() -> None:
    raw = inflate(compressed(FEED), 10_000)
    assert raw.content == FEED and raw.content_encoding == ""


def test_a_plain_body_is_left_as_it_is() -> None:
    raw = RawDocument(url="https://a.example/feed", content=FEED)
    assert inflate(raw, 10) is raw


def test_a_bomb_stops_at_the_limit() -> None:
    bomb = compressed(b"<rss>" + b" " * 5_000_000)
    assert len(bomb.content) < 10_000
    with pytest.raises(ParseError, match="larger than the 100,000-byte limit"):
        inflate(bomb, 100_000)
    assert len(inflate(bomb, 5_000_005).content) == 5_000_005  # the limit itself is allowed


@pytest.mark.parametrize(
    "body", [b"not gzip at all", gzip.compress(FEED)[:10] + b"\x00" * 20, zlib.compress(FEED)]
)
def test_bytes_that_are_not_gzip_give_a_parse_error_naming_the_feed(body: bytes) -> None:
    raw = RawDocument(url="https://a.example/feed", content=body, content_encoding="gzip")
    with pytest.raises(ParseError, match=r"https://a\.example/feed: the body could not be decoded"):
        inflate(raw, 10_000)


def test_an_encoding_other_than_gzip_is_refused() -> None:
    raw = RawDocument(url="https://a.example/feed", content=FEED, content_encoding="br")
    with pytest.raises(ParseError, match="encoded as 'br'"):
        inflate(raw, 10_000)


def test_prepare_reads_a_compressed_feed_like_the_plain_one() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)
    plain = prepare(Job(raw=RawDocument(url="https://a.example/feed", content=FEED), now=now))
    packed = prepare(Job(raw=compressed(FEED), now=now))
    assert packed.entries == plain.entries and packed.entries[0].title == "Bão số 3"
    with pytest.raises(ParseError, match="larger than"):
        prepare(Job(raw=compressed(FEED), now=now, max_bytes=len(FEED) - 1))
