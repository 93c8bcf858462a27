"""An HTML article page into a one-entry :class:`ParsedDocument`.

Metadata comes from the page's own declarations (Open Graph, ``article:published_time``,
``<link rel=canonical>``, ``<html lang>``); the body from ``<article>``, else ``<main>``,
else ``<body>``, without navigation, asides, forms and scripts. Readability-grade
extraction is later work; the sanitizer still runs afterwards in ``normalize``.
"""

from __future__ import annotations

import re
from typing import Any

import lxml.etree
import lxml.html

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, ParsedEntry, RawDocument

_CHARSET = re.compile(r"charset\s*=\s*([\w\"'.:-]+)", re.IGNORECASE)
_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>")
_CHROME = ("script", "style", "nav", "aside", "footer", "header", "form", "noscript", "iframe")


def load_html(content: bytes, content_type: str = "") -> Any:
    """An lxml document, decoded with the HTTP charset, else UTF-8 when the bytes are
    valid UTF-8, else what the page's own <meta charset> says (lxml's default would
    read a page without one as Latin-1 and turn Vietnamese into mojibake)."""
    charset = _CHARSET.search(content_type)
    text: str | None = None
    if charset:
        try:
            text = content.decode(charset.group(1).strip("\"'"), errors="replace")
        except LookupError:
            text = None
    if text is None:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return lxml.html.document_fromstring(content)
    # lxml refuses str input that still declares an encoding in an XML prolog.
    return lxml.html.document_fromstring(_XML_PROLOG.sub("", text, count=1))


def parse_html_page(raw: RawDocument) -> ParsedDocument:
    try:
        doc = load_html(raw.content, raw.content_type)
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
