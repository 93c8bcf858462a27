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
from aggregator.parse import charset

_XML_PROLOG = re.compile(r"^\s*<\?xml[^>]*\?>")
_CHROME = ("script", "style", "nav", "aside", "footer", "header", "form", "noscript", "iframe")


def decode_html(content: bytes, content_type: str = "") -> tuple[str, str, str]:
    """(text, encoding, a warning when the encoding was guessed). A BOM first; then the
    HTTP charset; then UTF-8 when the bytes are valid UTF-8; then the page's own <meta
    charset>; then :func:`aggregator.parse.charset.detect` (lxml's default would read a
    page without a declaration as Latin-1 and turn Vietnamese into mojibake). A declared
    encoding that cannot read the bytes (UTF-8 declared, windows-1258 sent) is a wrong
    declaration, and the guess replaces it too."""
    declared = ""
    encoding = charset.bom_encoding(content) or charset.utf16_without_bom(content)
    if not encoding:
        declared = charset.http_charset(content_type)
        encoding = (charset.lookup(declared) or "") if declared else ""
    if not encoding:
        try:
            return content.decode("utf-8"), "utf-8", ""
        except UnicodeDecodeError:
            pass
        declared = charset.meta_charset(content)
        encoding = (charset.lookup(declared) or "") if declared else ""
    if encoding and charset.decodes(content, encoding):
        return charset.decode(content, encoding), encoding, ""
    text, encoding = charset.detect_and_decode(content)
    return text, encoding, charset.guessed(encoding, declared)


def load_html(content: bytes, content_type: str = "") -> Any:
    """An lxml document of the page, decoded as :func:`decode_html` says."""
    return _load(decode_html(content, content_type)[0])


def _load(text: str) -> Any:
    # lxml refuses str input that still declares an encoding in an XML prolog.
    return lxml.html.document_fromstring(_XML_PROLOG.sub("", text, count=1))


def parse_html_page(raw: RawDocument) -> ParsedDocument:
    text, encoding, warning = decode_html(raw.content, raw.content_type)
    try:
        doc = _load(text)
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
        format="html",
        title=title,
        site_url=raw.url,
        language=language,
        entries=(entry,),
        encoding=encoding,
        warnings=(warning,) if warning else (),
    )
