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

import feedparser

from aggregator.errors import ParseError
from aggregator.model import ParsedDocument, ParsedEntry, RawDocument

# A DOCTYPE with or without an internal subset ("[...]"), where entities are declared.
_DOCTYPE = re.compile(rb"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.IGNORECASE | re.DOTALL)


def strip_doctype(content: bytes) -> bytes:
    """Drop the DOCTYPE so entity declarations never reach the XML parser."""
    return _DOCTYPE.sub(b"", content[:65536], count=1) + content[65536:]


def parse_xml_feed(raw: RawDocument) -> ParsedDocument:
    headers = {"content-location": raw.url}
    if raw.content_type:
        headers["content-type"] = raw.content_type
    result = feedparser.parse(
        strip_doctype(raw.content),
        response_headers=headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    version = result.get("version") or ""
    if not version and not result.entries:
        problem = result.get("bozo_exception") or "no RSS, RDF or Atom root element"
        raise ParseError(f"{raw.url}: not a feed ({problem})")
    channel = result.feed
    warnings = (str(result.bozo_exception),) if result.get("bozo") else ()
    return ParsedDocument(
        format=version or "xml",
        title=channel.get("title", ""),
        site_url=channel.get("link", ""),
        language=channel.get("language", ""),
        entries=tuple(_to_entry(item, raw.url) for item in result.entries),
        warnings=warnings,
        refresh_hint=refresh_hint(channel),
    )


_PERIODS = {
    "hourly": 3600,
    "daily": 86400,
    "weekly": 604800,
    "monthly": 2592000,
    "yearly": 31536000,
}


def refresh_hint(channel: Any) -> int | None:
    """The feed's own polling hint in seconds: RSS ``ttl`` (minutes) or the syndication
    module's ``updatePeriod`` divided by ``updateFrequency``; the longer when both."""
    hints: list[int] = []
    ttl = str(channel.get("ttl", "")).strip()
    if ttl.isdigit() and int(ttl) > 0:
        hints.append(int(ttl) * 60)
    period = _PERIODS.get(str(channel.get("sy_updateperiod", "")).strip().lower())
    if period:
        frequency = str(channel.get("sy_updatefrequency", "1")).strip()
        hints.append(period // max(int(frequency) if frequency.isdigit() else 1, 1))
    return max(hints) if hints else None


def _to_entry(item: Any, feed_url: str) -> ParsedEntry:
    content = item.get("content") or []
    content_html = content[0].get("value", "") if content else ""
    summary_html = item.get("summary", "")
    detail = (content[0] if content else None) or item.get("summary_detail") or {}
    # Plain dict access: feedparser aliases a missing "updated" to "published" (with a
    # DeprecationWarning), which would invent an update time the feed never gave.
    updated_parsed = dict.get(item, "updated_parsed")
    return ParsedEntry(
        guid=item.get("id", ""),
        link=item.get("link", ""),
        title=item.get("title", ""),
        content_html=content_html,
        summary_html=summary_html if summary_html != content_html else "",
        published=_to_datetime(item.get("published_parsed") or updated_parsed),
        updated=_to_datetime(updated_parsed),
        published_text=item.get("published") or dict.get(item, "updated") or "",
        author=item.get("author", ""),
        tags=tuple(t.get("term", "") for t in item.get("tags", []) if t.get("term")),
        language=detail.get("language") or "",
        base_url=detail.get("base") or feed_url,
    )


def _to_datetime(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    # feedparser normalizes every date it understands to UTC.
    return datetime.fromtimestamp(calendar.timegm(value), UTC)
