"""detect_format: what the body says first, the Content-Type header for unclear bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.model import RawDocument
from aggregator.parse import detect_format

FIXTURES = Path(__file__).parent / "fixtures"
RSS = b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel></channel></rss>'
ATOM = b'<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom"></feed>'
RDF = b'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
JSON_FEED = b'{"version": "https://jsonfeed.org/version/1.1", "items": []}'
HTML = b"<!DOCTYPE html>\n<html><head><title>t</title></head><body></body></html>"
TEXT = "Tiêu đề bài viết\n\nNội dung.\n".encode()


def raw(content: bytes, content_type: str = "") -> RawDocument:
    return RawDocument(url="https://example.com/doc", content=content, content_type=content_type)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(RSS, "xml", id="rss2"),
        pytest.param(ATOM, "xml", id="atom"),
        pytest.param(RDF, "xml", id="rss1-rdf"),
        pytest.param(b"<rss version='0.91'><channel/></rss>", "xml", id="rss-without-prolog"),
        pytest.param(b"<!-- generated -->\n<rss version='2.0'/>", "xml", id="rss-after-comment"),
        pytest.param(b'<?xml version="1.0"?><catalog/>', "xml", id="any-xml-prolog"),
        pytest.param(JSON_FEED, "json", id="json-feed"),
        pytest.param(b'\n  {"version": 1}', "json", id="json-after-whitespace"),
        pytest.param(HTML, "html", id="html5-doctype"),
        pytest.param(b"<html lang='vi'><body>x</body></html>", "html", id="html-tag"),
        pytest.param(b"<div><p>fragment</p></div>", "html", id="html-fragment"),
        pytest.param(TEXT, "text", id="plain-text"),
    ],
)
def test_body_alone_decides_the_format(content: bytes, expected: str) -> None:
    assert detect_format(raw(content)) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"\xef\xbb\xbf" + RSS, "xml", id="utf8-bom-rss"),
        pytest.param(b"\xef\xbb\xbf" + JSON_FEED, "json", id="utf8-bom-json"),
        pytest.param(b"\xef\xbb\xbf" + HTML, "html", id="utf8-bom-html"),
        pytest.param(b"\xef\xbb\xbf" + TEXT, "text", id="utf8-bom-text"),
        pytest.param(RSS.decode().encode("utf-16"), "xml", id="utf16-bom-rss"),
        pytest.param(b"\xfe\xff" + RSS.decode().encode("utf-16-be"), "xml", id="utf16-be-bom-rss"),
    ],
)
def test_byte_order_mark_is_skipped(content: bytes, expected: str) -> None:
    assert detect_format(raw(content)) == expected


def test_utf16_fixture_with_bom_is_xml() -> None:
    content = (FIXTURES / "rss2_utf16_bom.xml").read_bytes()
    assert content.startswith(b"\xff\xfe")
    assert detect_format(raw(content)) == "xml"


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        pytest.param(b"not json at all", "application/json", "json", id="json-header"),
        pytest.param(b"x", "application/feed+json; charset=utf-8", "json", id="feed-json-params"),
        pytest.param(b"plain words", "application/rss+xml", "xml", id="rss-header"),
        pytest.param(b"plain words", "application/atom+xml", "xml", id="atom-header"),
        pytest.param(b"plain words", "text/xml", "xml", id="text-xml-header"),
        pytest.param(b"plain words", "TEXT/HTML; charset=UTF-8", "html", id="html-header"),
        pytest.param(b"plain words", "text/plain", "text", id="text-header"),
    ],
)
def test_content_type_decides_an_unclear_body(
    content: bytes, content_type: str, expected: str
) -> None:
    assert detect_format(raw(content, content_type)) == expected


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        # Misconfigured servers send feeds as text/html or text/plain.
        pytest.param(RSS, "text/html", "xml", id="rss-served-as-html"),
        pytest.param(ATOM, "text/plain", "xml", id="atom-served-as-text"),
        pytest.param(JSON_FEED, "text/plain", "json", id="json-served-as-text"),
        pytest.param(JSON_FEED, "text/html", "json", id="json-served-as-html"),
        pytest.param(HTML, "application/rss+xml", "html", id="page-served-as-rss"),
    ],
)
def test_a_clear_body_wins_over_a_wrong_content_type(
    content: bytes, content_type: str, expected: str
) -> None:
    assert detect_format(raw(content, content_type)) == expected
