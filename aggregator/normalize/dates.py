"""Dates from feeds and texts into timezone-aware UTC datetimes.

Understood: ISO 8601 / RFC 3339, RFC 822 (with numeric or named zones, including
ICT, Indochina Time), and the day-first forms of Vietnamese pages (``21/02/2026``,
``21/02/2026 11:04``, ``21-2-2026 lúc 11h04``, ``21/02/2026 11:04 (GMT+7)``). A date
without a zone is read in ``default_tz``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import lru_cache

_ZONES = {"ICT": "+0700", "UT": "+0000", "Z": "+0000", "CET": "+0100", "CEST": "+0200"}
_NAMED_ZONE = re.compile(r"\b(ICT|CEST|CET)\b")
_DAY_FIRST = re.compile(
    r"^(?:ngày\s+)?(\d{1,2})[/-](\d{1,2})[/-](\d{4})"
    r"(?:,?\s+(?:lúc\s+)?(\d{1,2})[:h](\d{2}))?"
    # Vietnamese pages state their zone as "(GMT+7)" after the time.
    r"(?:\s*\(?(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?\)?)?$",
    re.IGNORECASE,
)


def parse_date(text: str, default_tz: tzinfo = UTC) -> datetime | None:
    """The UTC instant ``text`` names, or None when it names none we understand."""
    return _parse_date(text, default_tz)


# Every entry's date is read twice (by the parser, then again from its text by
# normalize), and a feed often dates many entries alike; datetimes are immutable.
@lru_cache(maxsize=4096)
def _parse_date(text: str, default_tz: tzinfo) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    for reader in (_iso, _day_first, _rfc822):
        try:
            found = reader(text)
        except (ValueError, TypeError, IndexError, OverflowError):
            continue
        if found is not None:
            if found.tzinfo is None:
                found = found.replace(tzinfo=default_tz)
            return found.astimezone(UTC)
    return None


def _iso(text: str) -> datetime | None:
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    return datetime.fromisoformat(text.replace("z", "Z"))


def _day_first(text: str) -> datetime | None:
    match = _DAY_FIRST.match(text)
    if not match:
        return None
    day, month, year, hour, minute, sign, zone_hours, zone_minutes = match.groups()
    found = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0))
    if sign is None:
        return found
    offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes or 0))
    return found.replace(tzinfo=timezone(-offset if sign == "-" else offset))


def _rfc822(text: str) -> datetime | None:
    text = _NAMED_ZONE.sub(lambda m: _ZONES[m.group(1)], text)
    return parsedate_to_datetime(text)


def clamp_date(value: datetime | None, now: datetime) -> datetime:
    """Missing dates become ``now``; dates more than a day ahead are not believed."""
    if value is None or value > now + timedelta(days=1):
        return now
    return value
