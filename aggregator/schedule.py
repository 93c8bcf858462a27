"""APScheduler wiring, and nothing else: the scheduler is only a clock.

What is due lives in the store (``feeds.next_check_at``, ``digests.next_run_at``),
so the main job just asks the pipeline to do whatever is due, every
``[schedule] tick_seconds``; a second job runs retention once a day (and a minute
after start-up). Misfire grace and coalescing are set explicitly on both: after a
pause (a laptop asleep, a long pass) the missed runs collapse into one instead of a
burst, and a job never overlaps its previous run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.config import ScheduleSettings

TICK_JOB = "pipeline-tick"
RETENTION_JOB = "retention"
RETENTION_EVERY = timedelta(days=1)


def build_scheduler(
    tick: Callable[[], Awaitable[None]],
    settings: ScheduleSettings,
    *,
    retention: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        tick,
        IntervalTrigger(seconds=settings.tick_seconds, timezone=UTC),
        id=TICK_JOB,
        name="poll due feeds, build due digests, deliver",
        next_run_time=datetime.now(UTC),  # first pass at start-up
        coalesce=True,
        max_instances=1,
        misfire_grace_time=settings.tick_seconds,
    )
    if retention is not None:
        scheduler.add_job(
            retention,
            IntervalTrigger(seconds=RETENTION_EVERY.total_seconds(), timezone=UTC),
            id=RETENTION_JOB,
            name="prune entries past [storage] retention_days, expire tombstones",
            next_run_time=datetime.now(UTC) + timedelta(minutes=1),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=int(RETENTION_EVERY.total_seconds()),  # late beats never
        )
    return scheduler


def set_tick_interval(scheduler: AsyncIOScheduler, settings: ScheduleSettings) -> None:
    """A reloaded ``tick_seconds``: the next tick comes at the new pace."""
    job = scheduler.get_job(TICK_JOB)
    if job is None:
        return
    scheduler.reschedule_job(
        TICK_JOB, trigger=IntervalTrigger(seconds=settings.tick_seconds, timezone=UTC)
    )
    scheduler.modify_job(TICK_JOB, misfire_grace_time=settings.tick_seconds)
