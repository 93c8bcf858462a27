"""RSS 0.9x/1.0/2.0 and Atom through feedparser, adapted into a :class:`ParsedDocument`.

feedparser is tolerant of ill-formed XML, which real feeds need. Two guards wrap it:
the document type declaration is removed before parsing, so no XML entity is ever
defined, expanded or fetched (no XXE, no "billion laughs"); and feedparser's own
sanitizer is turned off because ours runs last in ``normalize`` (feedparser's
misses ``javascript:`` URLs in several attributes). So is its resolution of relative
URLs inside content: it joins ``&#106;avascript:...`` to the base before decoding the
entity, hiding the scheme; ours resolves against ``base_url`` after decoding.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from typing import Any

from aggregator.errors import ParseError
from aggregator.model import Enclosure, ParsedDocument, ParsedEntry, RawDocument
from aggregator.parse.hints import refresh_hint
from aggregator.parse.media import enclosure, media_content

# A DOCTYPE with or without an internal subset ("[...]"), where entities are declared.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)


# Character references no XML document may contain: NUL, UTF-16 surrogates (feedparser
# raises UnicodeEncodeError on "&#xD800;" in an ill-formed document), beyond Unicode.
_CHAR_REF = re.compile(rb"&#([xX][0-9a-fA-F]{1,8}|[0-9]{1,10});")


def _safe_char_ref(match: re.Match[bytes]) -> bytes:
    text = match.group(1)
    value = int(text[1:], 16) if text[:1] in b"xX" else int(text)
    if value == 0 or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
        return b"&#xFFFD;"
    return match.group(0)


def neutralize_char_refs(content: bytes) -> bytes:
    """Replace character references that cannot be characters with U+FFFD."""
    return _CHAR_REF.sub(_safe_char_ref, content) if b"&#" in content else content


def strip_doctype(content: bytes) -> bytes:
    """Drop the DOCTYPE so entity declarations never reach the XML parser."""
    return _DOCTYPE.sub(b"", content[:65536], count=1) + content[65536:]


def parse_xml_feed(raw: RawDocument) -> ParsedDocument:
    # Imported on first use: the fallback reads few documents, and most commands none
    # (feedparser is a tenth of a second of every command's start-up).
    import feedparser

    # A local file's path is no base for a reader's links: relative ones stay relative
    # and normalize resolves them against the site the feed describes.
    headers = {} if raw.url.startswith("file:") else {"content-location": raw.url}
    if raw.content_type:
        headers["content-type"] = raw.content_type
    try:
        result = feedparser.parse(
            neutralize_char_refs(strip_doctype(raw.content)),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        # feedparser is a black box on hostile bytes: its encoding detection raises
        # UnicodeDecodeError or ValueError ("embedded null character") on some. Any
        # crash inside it means the same to the feed's owner: this document is unreadable.
        raise ParseError(f"{raw.url}: unreadable feed ({type(exc).__name__}: {exc})") from None
    version = result.get("version") or ""
    if not version and not result.entries:
        problem = result.get("bozo_exception") or "no RSS, RDF or Atom root element"
        raise ParseError(f"{raw.url}: not a feed ({problem})")
    channel = result.feed
    warnings = (str(result.bozo_exception),) if result.get("bozo") else ()
    return ParsedDocument(
        format=version or "xml",
        title=_str(channel.get("title")),
        site_url=_str(channel.get("link")),
        language=_str(channel.get("language")),
        entries=tuple(_to_entry(item, raw.url) for item in result.entries),
        warnings=warnings,
        refresh_hint=_refresh_hint(channel),
        encoding=_str(result.get("encoding")),
    )


def _refresh_hint(channel: Any) -> int | None:
    return refresh_hint(
        str(channel.get("ttl", "")),
        str(channel.get("sy_updateperiod", "")),
        str(channel.get("sy_updatefrequency", "1")),
    )


def _to_entry(item: Any, feed_url: str) -> ParsedEntry:
    content = item.get("content") or []
    content_html = _str(content[0].get("value")) if content else ""
    summary_html = _str(item.get("summary"))
    detail = (content[0] if content else None) or item.get("summary_detail") or {}
    # Plain dict access: feedparser aliases a missing "updated" to "published" (with a
    # DeprecationWarning), which would invent an update time the feed never gave.
    updated_parsed = dict.get(item, "updated_parsed")
    return ParsedEntry(
        guid=_str(item.get("id")),
        link=_str(item.get("link")),
        title=_str(item.get("title")),
        content_html=content_html,
        summary_html=summary_html if summary_html != content_html else "",
        published=_to_datetime(item.get("published_parsed") or updated_parsed),
        updated=_to_datetime(updated_parsed),
        published_text=_str(item.get("published")) or _str(dict.get(item, "updated")),
        author=_authors(item),
        tags=tuple(_str(t.get("term")) for t in item.get("tags") or [] if _str(t.get("term"))),
        language=_str(detail.get("language")),
        base_url=_str(detail.get("base")) or feed_url,
        enclosures=_enclosures(item),
    )


def _enclosures(item: Any) -> tuple[Enclosure, ...]:
    """RSS enclosures and Atom enclosure links (feedparser lists both as ``enclosures``),
    then Media RSS pictures, audio and video."""
    found = [
        enclosure(e.get("href"), e.get("type"), e.get("length"))
        for e in item.get("enclosures") or []
        if hasattr(e, "get")
    ] + [
        media_content(m.get("url"), m.get("type"), m.get("filesize"), m.get("medium"))
        for m in item.get("media_content") or []
        if hasattr(m, "get")
    ]
    return tuple(filter(None, found))


def _authors(item: Any) -> str:
    """Every author by name ("Minh Khang, Quỳnh Anh"); feedparser's "author" keeps one."""
    names = [_str(a.get("name")).strip() for a in item.get("authors") or [] if hasattr(a, "get")]
    return ", ".join(dict.fromkeys(n for n in names if n)) or _str(item.get("author"))


def _str(value: Any) -> str:
    """feedparser hands out None (or odd types) for fields of broken documents."""
    return value if isinstance(value, str) else ""


def _to_datetime(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    # feedparser normalizes every date it understands to UTC.
    return datetime.fromtimestamp(calendar.timegm(value), UTC)
