"""The polling policy: pure functions of what a fetch saw and the clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.config import FetchSettings
from aggregator.model import Feed
from aggregator.sources.http import max_age, retry_after
from aggregator.sources.polling import (
    failure_delay,
    healthy_interval,
    publishing_interval,
    spread_overdue,
    with_jitter,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SETTINGS = FetchSettings(
    interval_minutes=30, min_interval_minutes=5, max_interval_minutes=1440, max_backoff_minutes=720
)


def hourly(count: int) -> list[datetime]:
    return [NOW - timedelta(hours=n) for n in range(count)]


def every_minute(count: int) -> list[datetime]:
    return [NOW - timedelta(minutes=n) for n in range(count)]


def test_publishing_interval_is_a_week_over_last_weeks_entries() -> None:
    assert publishing_interval(hourly(168), NOW) == timedelta(hours=1)
    assert publishing_interval([NOW - timedelta(days=8)], NOW) is None  # too old to count
    assert publishing_interval([], NOW) is None


@pytest.mark.parametrize(
    ("published", "hints", "previous", "expected"),
    [
        (hourly(168), [], None, timedelta(hours=1)),  # the feed's own pace
        (every_minute(3000), [], None, timedelta(minutes=5)),  # never faster than the minimum
        ([NOW - timedelta(days=6)], [], None, timedelta(hours=24)),  # capped at the maximum
        ([], [], None, timedelta(minutes=30)),  # unknown pace: the default
        ([], [], 7200, timedelta(hours=2)),  # a 304 keeps the previous interval
        (hourly(168), [3 * 3600], None, timedelta(hours=3)),  # ttl / sy hint slows us down
        (hourly(168), [600], None, timedelta(hours=1)),  # a hint never speeds us up
        (hourly(168), [None, 7200], None, timedelta(hours=2)),  # Cache-Control max-age
        (hourly(168), [10 * 86400], None, timedelta(hours=24)),  # a hint stays within bounds
    ],
)
def test_healthy_interval(
    published: list[datetime], hints: list[int | None], previous: int | None, expected: timedelta
) -> None:
    assert (
        healthy_interval(SETTINGS, published=published, now=NOW, hints=hints, previous=previous)
        == expected
    )


def test_failures_back_off_exponentially_to_the_cap() -> None:
    delays = [failure_delay(SETTINGS, errors=n) for n in range(1, 12)]
    assert delays[:4] == [timedelta(minutes=m) for m in (5, 10, 20, 40)]
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == timedelta(minutes=720)  # still retried, at the capped pace


def test_retry_after_is_honoured_within_bounds() -> None:
    assert failure_delay(SETTINGS, errors=5, retry_after=120) == timedelta(minutes=2)
    assert failure_delay(SETTINGS, errors=1, retry_after=0) == timedelta(minutes=1)
    assert failure_delay(SETTINGS, errors=1, retry_after=10**9) == timedelta(minutes=720)


def test_jitter_takes_off_at_most_ten_percent() -> None:
    rng = random.Random(7)
    moments = [with_jitter(NOW, timedelta(hours=10), rng) for _ in range(200)]
    assert all(NOW + timedelta(hours=9) <= m <= NOW + timedelta(hours=10) for m in moments)
    assert len(set(moments)) > 150  # feeds added together drift apart


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("", None),
        ("soon", None),
        ("Mon, 23 Nov 2026 12:05:00 GMT", 300.0),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),
    ],
)
def test_retry_after_header(header: str, expected: float | None) -> None:
    assert retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("public, max-age=3600", 3600),
        ('max-age="60", must-revalidate', 60),
        ("no-cache", None),
        ("s-maxage=10", None),
    ],
)
def test_cache_control_max_age(header: str, expected: int | None) -> None:
    assert max_age(header) == expected


def test_after_downtime_one_pass_polls_now_and_the_rest_spread_over_the_window() -> None:
    week_ago = NOW - timedelta(days=7)
    feeds = [
        Feed(id=i, url=f"https://f{i}.example/", next_check_at=week_ago + timedelta(minutes=i))
        for i in range(1, 101)
    ]
    feeds.append(Feed(id=500, url="https://new.example/"))  # never polled: polled at once
    feeds.append(Feed(id=600, url="https://later.example/", next_check_at=NOW + timedelta(hours=1)))
    # Due a few minutes ago (a quick restart): not a stampede, polled at once.
    feeds.append(
        Feed(id=700, url="https://recent.example/", next_check_at=NOW - timedelta(minutes=5))
    )
    moves = dict(spread_overdue(feeds, NOW, burst=10, window=timedelta(minutes=15)))
    # The ten most overdue stay due now; the never-polled, recent and not-due ones too.
    assert all(i not in moves for i in (*range(1, 11), 500, 600, 700))
    assert sorted(moves) == list(range(11, 101))
    times = [moves[i] for i in range(11, 101)]
    assert times == sorted(times) and len(set(times)) == len(times)  # in order, apart
    assert NOW < times[0] and times[-1] == NOW + timedelta(minutes=15)
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert max(gaps) - min(gaps) < timedelta(milliseconds=1)  # evenly


def test_a_pass_worth_of_overdue_feeds_is_not_delayed() -> None:
    week_ago = NOW - timedelta(days=7)
    feeds = [Feed(id=i, url=f"https://f{i}.example/", next_check_at=week_ago) for i in range(5)]
    assert spread_overdue(feeds, NOW, burst=10, window=timedelta(minutes=15)) == []
    assert spread_overdue(feeds * 3, NOW, burst=10, window=timedelta(0)) == []
