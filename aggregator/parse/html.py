"""An HTML article page into a one-entry :class:`ParsedDocument`.

Metadata comes from the page's own declarations (Open Graph, ``article:published_time``,
``<link rel=canonical>``, ``<html lang>``); the body from ``<article>``, else ``<main>``,
else ``<body>``, without navigation, asides, forms and scripts. Readability-grade
extraction is later work; the sanitizer still runs afterwards in ``normalize``.
"""

from __future__ import annotations

import lxml.etree
import lxml.html

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, ParsedEntry, RawDocument

_CHROME = ("script", "style", "nav", "aside", "footer", "header", "form", "noscript", "iframe")


def parse_html_page(raw: RawDocument) -> ParsedDocument:
    try:
        doc = lxml.html.document_fromstring(raw.content)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ParseError(f"{raw.url}: unreadable HTML ({exc})") from None

    def meta(*names: str) -> str:
        for name in names:
            for attr in ("property", "name", "itemprop"):
                found = doc.xpath(f'//meta[@{attr}="{name}"]/@content')
                if found:
                    return str(found[0]).strip()
        return ""

    title = meta("og:title", "twitter:title") or (doc.findtext(".//title") or "").strip()
    canonical = doc.xpath('//link[@rel="canonical"]/@href')
    link = str(canonical[0]) if canonical else meta("og:url") or raw.url
    published = meta("article:published_time", "datePublished", "date", "pubdate")
    if not published:
        stamps = doc.xpath("//time/@datetime")
        published = str(stamps[0]) if stamps else ""
    body = doc.find(".//article")
    if body is None:
        body = doc.find(".//main")
    if body is None:
        body = doc.body
    if body is None:
        # A head-only page or a frameset: lxml builds no <body>, so there is no text to keep.
        raise ParseError(f"{raw.url}: HTML page without a body")
    for element in body.xpath(" | ".join(f".//{tag}" for tag in _CHROME)):
        element.drop_tree()
    content = "".join(
        lxml.html.tostring(child, encoding="unicode") for child in body.iterchildren()
    )
    language = str(doc.get("lang") or meta("og:locale") or "")
    entry = ParsedEntry(
        guid=link,
        link=link,
        title=title,
        content_html=content,
        summary_html=meta("description", "og:description"),
        published_text=published,
        author=meta("author", "article:author"),
        language=language,
        base_url=raw.url,
    )
    return ParsedDocument(
        format="html", title=title, site_url=raw.url, language=language, entries=(entry,)
    )
