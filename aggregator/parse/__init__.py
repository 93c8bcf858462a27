"""Stage 2, parse: bytes in, :class:`ParsedDocument` out, one module per format.

:func:`detect_format` sniffs the document; :func:`parse_document` dispatches to the
format module. Library types (feedparser dicts, lxml trees) never leave their
module. Parsing is pure: no network, no clock.

The format modules (lxml, the regexes of page noise) load on the first parse, not
with this package: a command that parses nothing, such as a fetch where every feed
answers 304, or the main process whose workers do the parsing, never pays for them.
"""

from __future__ import annotations

from dataclasses import replace

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, RawDocument
from aggregator.parse import charset
from aggregator.parse.sandbox import ParseLimits, sandbox

__all__ = ["ParseLimits", "detect_format", "parse_document"]

_SNIFF_BYTES = 2048


def detect_format(raw: RawDocument) -> str:
    """One of ``"xml"`` (RSS/Atom/RDF), ``"json"``, ``"html"`` or ``"text"``."""
    head = raw.content[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # UTF-16 with its BOM: sniff the characters, not bytes interleaved with zeros.
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    elif utf16 := charset.utf16_without_bom(head):
        head = head.decode(utf16, errors="ignore").encode("utf-8")
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    content_type = raw.content_type.split(";")[0].strip().lower()
    # What the body says wins over the Content-Type header, which is often wrong (feeds
    # served as text/html or text/plain); the header only decides an unclear body.
    if head.startswith(b"{"):
        return "json"
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if head.startswith(b"<") and any(
        marker in head for marker in (b"<rss", b"<feed", b"<rdf:rdf", b"<rdf", b"<channel")
    ):
        return "xml"
    if content_type in {"application/feed+json", "application/json"}:
        return "json"
    if content_type == "text/html":
        return "html"
    if head.startswith(b"<?xml") or content_type.endswith(("xml", "+xml")):
        return "xml"
    if head.startswith(b"<"):
        return "html"
    return "text"


def parse_document(
    raw: RawDocument, *, feeds_only: bool = False, limits: ParseLimits | None = None
) -> ParsedDocument:
    """Parse a document; raises :class:`ParseError` when nothing is usable.

    A polled feed must be a feed (``feeds_only``): an error page or a moved site
    answering with HTML or text must be reported, not stored as an article. Pages
    and text articles come in through ``aggregator ingest``.
    """
    from aggregator.parse import fast, html, jsonfeed, text  # see the module docstring

    if not raw.content.strip():
        raise ParseError(f"{raw.url}: the document is empty")
    kind = detect_format(raw)
    if feeds_only and kind in {"html", "text"}:
        what = "an HTML page" if kind == "html" else "plain text"
        raise ParseError(f"{raw.url}: the server sent {what}, not a feed")
    if kind == "json":
        return jsonfeed.parse_json_feed(raw)
    if kind == "html":
        return html.parse_html_page(raw)
    if kind == "text":
        return text.parse_text_article(raw)
    relabelled = fast.mislabelled_utf8(raw)
    if relabelled is not None:
        raw, warning = relabelled
        document = _parse_xml(raw, limits)
        return replace(document, encoding="utf-8", warnings=(*document.warnings, warning))
    return _parse_xml(raw, limits)


def _parse_xml(raw: RawDocument, limits: ParseLimits | None) -> ParsedDocument:
    # Well-formed RSS 2.0 / RSS 1.0 / Atom 1.0 take the fast path; the rest feedparser,
    # in a bounded worker process when ``limits`` are given (the daemon and CLI do).
    from aggregator.parse import fast

    document = fast.parse_fast(raw)
    if document is not None:
        return document
    # Only now, on the slow path, check whether the bytes are in the encoding they
    # declare (or UTF-8); a guessed encoding is recorded on the document.
    repaired = fast.reencoded(raw)
    if repaired is None:
        return _tolerant(raw, limits)
    raw, encoding, warning = repaired
    document = fast.parse_fast(raw) or _tolerant(raw, limits)
    return replace(document, encoding=encoding, warnings=(*document.warnings, warning))


def _tolerant(raw: RawDocument, limits: ParseLimits | None) -> ParsedDocument:
    from aggregator.parse import feed

    return sandbox(limits).parse(raw) if limits else feed.parse_xml_feed(raw)
