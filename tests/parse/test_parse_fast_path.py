"""The lxml fast path against feedparser: same entries after normalization, or a fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.model import Entry, RawDocument
from aggregator.normalize import to_entries
from aggregator.normalize.text import html_to_text
from aggregator.parse import feed, parse_document
from aggregator.parse.fast import parse_fast, xml_bytes
from tests.bundled import ARTICLES, FEEDS, FIXED_NOW, ROOT

XML_FIXTURES = sorted(
    [p for p in FEEDS.iterdir() if p.suffix in {".xml", ".atom", ".rdf"}]
    + [p for p in (ROOT / "tests").rglob("fixtures/*") if p.suffix in {".xml", ".atom", ".rdf"}]
    + [ARTICLES / "windows1258_feed.xml"],
)


def comparable(entry: Entry) -> tuple[object, ...]:
    return (
        entry.entry_key,
        entry.url,
        entry.title,
        entry.published,
        entry.language,
        entry.summary,
        entry.tags,
        entry.author,
        entry.enclosures,
        html_to_text(entry.content_html),
    )


@pytest.mark.parametrize("path", XML_FIXTURES, ids=lambda p: p.name)
def test_fast_path_agrees_with_feedparser_or_falls_back(path: Path) -> None:
    # An http URL: feedparser mangles file:// bases ("file://work/..."), a quirk of its own.
    raw = RawDocument(url=f"https://feeds.example/fixtures/{path.name}", content=path.read_bytes())
    fast = parse_fast(raw)
    if fast is None:
        return  # feedparser decides alone: nothing to compare
    slow = feed.parse_xml_feed(raw)
    fast_entries = to_entries(fast, feed_url=raw.url, now=FIXED_NOW)
    slow_entries = to_entries(slow, feed_url=raw.url, now=FIXED_NOW)
    assert [comparable(e) for e in fast_entries] == [comparable(e) for e in slow_entries]
    assert (fast.title, fast.language) == (slow.title, slow.language)


def test_the_bundled_xml_feeds_all_take_the_fast_path() -> None:
    for name in (
        "tin-nhanh.xml",
        "saigon-times-daily.atom",
        "mekong-review.rdf",
        "the-lantern.xml",
    ):
        raw = RawDocument(url="https://x.example/", content=(FEEDS / name).read_bytes())
        assert parse_fast(raw) is not None, name


@pytest.mark.parametrize(
    "body",
    [
        b"<rss version='2.0'><channel><title>t</title>"
        b"<item><title>a &nbsp; b</title></item></channel></rss>",
        b"<rss version='0.91'><channel><title>t</title></channel></rss>",
        b"<feed xmlns='http://purl.org/atom/ns#'><title>Atom 0.3</title></feed>",
        b"<rss version='2.0'><channel><title>broken</channel></rss>",
    ],
    ids=["undeclared-entity", "rss091", "atom03", "bad-nesting"],
)
def test_what_the_fast_path_cannot_do_goes_to_feedparser(body: bytes) -> None:
    raw = RawDocument(url="https://x.example/feed", content=body)
    assert parse_fast(raw) is None
    assert parse_document(raw).format  # the tolerant parser reads what the fast path declines


def test_the_http_charset_wins_over_the_xml_declaration() -> None:
    # RFC 7303: the declaration says ISO-8859-1, the server says UTF-8 (and is right).
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel>'
    body += "<title>Thời sự</title></channel></rss>"
    raw = RawDocument(
        url="https://x.example/",
        content=body.encode("utf-8"),
        content_type="application/rss+xml; charset=utf-8",
    )
    fast = parse_fast(raw)
    assert fast is not None and fast.title == "Thời sự"
    assert (
        xml_bytes(
            RawDocument(
                url="u", content=b"\xef\xbb\xbf<rss/>", content_type="text/xml; charset=latin-1"
            )
        )
        == b"\xef\xbb\xbf<rss/>"
    )


def test_no_entity_is_ever_expanded_on_the_fast_path() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<rss version="2.0"><channel><title>&b;</title></channel></rss>'
    )
    fast = parse_fast(RawDocument(url="https://x.example/", content=bomb))
    assert fast is None or "aaaa" not in fast.title


def test_xhtml_content_keeps_escaped_text_and_declares_no_namespace_per_paragraph() -> None:
    path = ROOT / "tests" / "parse" / "fixtures" / "atom_xhtml_content.xml"
    raw = RawDocument(url="https://tech.example/feed.atom", content=path.read_bytes())
    document = parse_fast(raw)
    assert document is not None
    first, second = (entry.content_html for entry in document.entries)
    # Text before the first child is text: "<marquee>" must not become a tag.
    assert first.startswith("Lịch sử của thẻ &lt;marquee&gt; &amp; những người dùng nó.<p>")
    assert "xmlns" not in first.split("<p>", 1)[1] and "xmlns" not in second
    assert second == (
        "<p>The first paragraph of the note.</p>"
        "<p>A second one, <em>with</em> emphasis &amp; an entity.</p>"
    )
    entries = to_entries(document, feed_url=raw.url, now=FIXED_NOW)
    assert entries[0].summary.startswith("Lịch sử của thẻ <marquee> & những người dùng nó.")


def test_a_local_feeds_relative_links_resolve_against_its_site_on_both_paths(
    tmp_path: Path,
) -> None:
    # A file: address is no base for a reader: links and enclosures go to the site the
    # feed describes (normalize._base_url). Both parsers resolved them against the
    # file's own path, and the entry lost its link.
    path = tmp_path / "local.xml"
    path.write_bytes(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>L</title>'
        b"<link>https://site.example/</link><item><title>A</title><link>/a.html</link>"
        b'<enclosure url="media/a.mp3" type="audio/mpeg" length="5"/></item></channel></rss>'
    )
    raw = RawDocument(url=path.as_uri(), content=path.read_bytes())
    fast = parse_fast(raw)
    assert fast is not None
    for document in (fast, feed.parse_xml_feed(raw)):
        (entry,) = to_entries(document, feed_url=raw.url, now=FIXED_NOW)
        assert entry.url == "https://site.example/a.html", document
        assert [e.url for e in entry.enclosures] == ["https://site.example/media/a.mp3"]
