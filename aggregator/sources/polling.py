"""When to poll a feed next: pure functions of what the last fetch saw and ``now``.

A healthy feed is polled at the pace it publishes (a week divided by the entries of
the last week), slowed down to the feed's own hints (RSS ``ttl``,
``sy:updatePeriod``/``updateFrequency``, Cache-Control ``max-age``) and kept within
``[fetch] min_interval_minutes`` .. ``max_interval_minutes``. A failing feed backs off
exponentially up to ``max_backoff_minutes`` and is retried at that pace for as long as
it fails: feeds that silently stop after a few errors are what users of other readers
complain about most. 429/503 answers wait for their Retry-After.

Every delay gets up to 10% of random jitter (``rng`` is injected for tests), so feeds
added together do not stay in lock step.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from aggregator.config import FetchSettings
from aggregator.model import Feed

JITTER = 0.10
RATE_WINDOW = timedelta(days=7)
_RNG = random.Random()


def publishing_interval(published: Sequence[datetime], now: datetime) -> timedelta | None:
    """A week divided by the entries published in the last week; None without entries."""
    recent = [p for p in published if now - RATE_WINDOW <= p <= now]
    if not recent:
        return None
    return RATE_WINDOW / len(recent)


def healthy_interval(
    settings: FetchSettings,
    *,
    published: Sequence[datetime] = (),
    now: datetime,
    hints: Sequence[int | None] = (),
    previous: int | None = None,
) -> timedelta:
    """The interval after a successful fetch.

    ``published`` are the dates of the entries the fetch returned (empty for a 304,
    which keeps ``previous``); ``hints`` are the feed's own and the server's, in seconds.
    """
    low = timedelta(minutes=settings.min_interval_minutes)
    high = timedelta(minutes=max(settings.max_interval_minutes, settings.min_interval_minutes))
    rate = publishing_interval(published, now)
    if rate is None:
        rate = timedelta(seconds=previous) if previous else None
    interval = rate if rate is not None else timedelta(minutes=settings.interval_minutes)
    for hint in hints:
        if hint:  # a hint can only slow us down: the publisher asked for no more
            interval = max(interval, timedelta(seconds=hint))
    return min(max(interval, low), high)


def failure_delay(
    settings: FetchSettings, *, errors: int, retry_after: float | None = None
) -> timedelta:
    """The wait after the ``errors``-th failure in a row (1 for the first)."""
    cap = timedelta(minutes=max(settings.max_backoff_minutes, settings.min_interval_minutes))
    if retry_after is not None:
        return min(max(timedelta(seconds=retry_after), timedelta(minutes=1)), cap)
    base = timedelta(minutes=settings.min_interval_minutes)
    return min(base * (1 << min(max(errors - 1, 0), 20)), cap)


def with_jitter(now: datetime, delay: timedelta, rng: random.Random | None = None) -> datetime:
    """``now + delay``, minus up to 10% so a capped delay is never exceeded."""
    fraction = (rng or _RNG).random() * JITTER
    return now + delay * (1 - fraction)


def spread_overdue(
    feeds: Sequence[Feed], now: datetime, *, burst: int, window: timedelta
) -> list[tuple[int, datetime]]:
    """New poll times for feeds that fell due long before ``now`` (the daemon was away).

    Only feeds overdue by more than ``window`` count: a quick restart, or feeds never
    polled yet (a fresh install, an OPML import), are polled at once as usual. Of those,
    the ``burst`` most overdue stay due now and the others are spaced evenly over
    ``window`` in the order they fell due, so a daemon stopped for a week does not open
    connections to every feed at the same moment. Returns (feed id, time) for the feeds
    that move.
    """
    if window <= timedelta(0):
        return []
    cutoff = now - window
    overdue = sorted(
        (f for f in feeds if f.next_check_at is not None and f.next_check_at < cutoff),
        key=lambda f: (f.next_check_at or now, f.id),
    )
    later = overdue[max(burst, 0) :]
    return [(feed.id, now + window * (i + 1) / len(later)) for i, feed in enumerate(later)]
