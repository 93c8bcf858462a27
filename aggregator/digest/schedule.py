"""When a digest runs: its cron expression read in its own time zone.

Pure functions of (cron, zone, instant); the daemon stores the result as the
digest's ``next_run_at``, so a restart never forgets or repeats a run. APScheduler's
cron trigger does the calendar arithmetic, including daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from aggregator.config import DigestSettings
from aggregator.model import DigestState

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _trigger(cron: str, timezone: str) -> CronTrigger:
    minute, hour, day, month, weekday = cron.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=weekday_names(weekday),
        timezone=ZoneInfo(timezone),
    )


def weekday_names(field: str) -> str:
    """Standard cron weekdays (0 or 7 = Sunday, 1 = Monday) as names.

    APScheduler 3 numbers weekdays from Monday = 0, so ``* * * * 1`` handed over as
    it is would run on Tuesdays; names mean the same thing to both.
    """
    if field == "*" or any(c.isalpha() for c in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = 0, 6
        else:
            start, _, stop = span.partition("-")
            first, last = int(start), int(stop or (6 if step else start))
        if not (0 <= first <= 7 and 0 <= last <= 7 and first <= last):
            raise ValueError(f"weekday {part!r} is outside 0-7")
        days.update(n % 7 for n in range(first, last + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[n] for n in sorted(days))


def check_cron(cron: str, timezone: str) -> str:
    """ "" when ``cron`` is a valid five-field expression, else what is wrong."""
    if len(cron.split()) != 5:
        return "expected five fields: minute hour day month weekday"
    try:
        _trigger(cron, timezone)
    except ValueError as exc:
        return str(exc)
    return ""


def next_run_after(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``cron`` names, in UTC."""
    trigger = _trigger(cron, timezone)
    fire: datetime | None = trigger.get_next_fire_time(None, after)
    if fire is not None and fire <= after:
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    if fire is None:  # a cron that never fires again (e.g. 30 February)
        return datetime.max.replace(tzinfo=UTC)
    return fire.astimezone(UTC)


def is_due(digest: DigestSettings, state: DigestState, now: datetime) -> bool:
    """A digest never sent is due at once (so a new install shows an email); else on schedule."""
    return catch_up(digest, state, now, grace=None) is Due.RUN


class Due(StrEnum):
    WAIT = "wait"  # its next run is still ahead
    RUN = "run"  # build an issue now
    SKIP = "skip"  # its last scheduled run passed longer ago than the grace period


# A daemon down for weeks must not walk a minutely cron one run at a time.
_MAX_MISSED_RUNS = 100_000


def catch_up(
    digest: DigestSettings, state: DigestState, now: datetime, *, grace: timedelta | None
) -> Due:
    """What to do about a digest at ``now``, after any downtime.

    However many scheduled runs passed while the daemon was down, at most one issue is
    built: if the latest of them lies within ``grace`` (None: any age), now; otherwise
    it is skipped (the caller logs it and moves ``next_run_at`` on). Nothing is lost by
    a skip: the next issue's window starts where the last one ended.
    """
    if state.last_run_at is None:
        return Due.RUN
    next_run = state.next_run_at or next_run_after(
        digest.schedule, digest.timezone, state.last_run_at
    )
    if now < next_run:
        return Due.WAIT
    if grace is None:
        return Due.RUN
    return Due.RUN if now - latest_run_by(digest, next_run, now) <= grace else Due.SKIP


def latest_run_by(digest: DigestSettings, first_missed: datetime, now: datetime) -> datetime:
    """The last time the schedule names at or before ``now``, from ``first_missed`` on."""
    latest = first_missed
    for _ in range(_MAX_MISSED_RUNS):
        following = next_run_after(digest.schedule, digest.timezone, latest)
        if following > now:
            return latest
        latest = following
    return latest
