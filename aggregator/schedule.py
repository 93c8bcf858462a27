"""APScheduler wiring, and nothing else: the scheduler is only a clock.

What is due lives in the store (``feeds.next_check_at``, ``digests.next_run_at``),
so the one job here just asks the pipeline to do whatever is due, every
``[schedule] tick_seconds``. Misfire grace and coalescing are set explicitly:
after a pause (a laptop asleep, a long pass) the missed ticks collapse into one
run instead of a burst, and a tick never overlaps the previous one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.config import ScheduleSettings

TICK_JOB = "pipeline-tick"


def build_scheduler(
    tick: Callable[[], Awaitable[None]], settings: ScheduleSettings
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
