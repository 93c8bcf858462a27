"""A feed's own polling hint: RSS ``ttl`` and the syndication module's update period.

Shared by both XML parsers, which only differ in how they read the three values.
"""

from __future__ import annotations

PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 604800, "monthly": 2592000, "yearly": 31536000}


def refresh_hint(ttl: str, period: str, frequency: str) -> int | None:
    """Seconds between updates the feed asks for: ``ttl`` minutes, or ``sy:updatePeriod``
    divided by ``sy:updateFrequency``; the longer when both are given."""
    hints: list[int] = []
    ttl = ttl.strip()
    if ttl.isdigit() and int(ttl) > 0:
        hints.append(int(ttl) * 60)
    seconds = PERIODS.get(period.strip().lower())
    if seconds:
        frequency = frequency.strip()
        hints.append(seconds // max(int(frequency) if frequency.isdigit() else 1, 1))
    return max(hints) if hints else None
