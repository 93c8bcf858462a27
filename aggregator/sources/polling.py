"""When to poll a feed next: the normal interval, or an exponential back-off after failures.

A failing feed is never given up on: its wait doubles per consecutive failure up to
``max_backoff_minutes`` and it keeps being retried at that pace (feeds that silently
stop after a few errors are what users of other readers complain about most).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from aggregator.config import FetchSettings


def next_check_at(now: datetime, settings: FetchSettings, *, errors: int = 0) -> datetime:
    minutes = settings.interval_minutes * (2 ** min(errors, 16))
    return now + timedelta(
        minutes=min(minutes, max(settings.max_backoff_minutes, settings.interval_minutes))
    )
