"""When a digest runs: its cron expression read in its own time zone.

Pure functions of (cron, zone, instant); the daemon stores the result as the
digest's ``next_run_at``, so a restart never forgets or repeats a run. APScheduler's
cron trigger does the calendar arithmetic, including daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from aggregator.config import DigestSettings
from aggregator.model import DigestState


def _trigger(cron: str, timezone: str) -> CronTrigger:
    return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))


def check_cron(cron: str, timezone: str) -> str:
    """"" when ``cron`` is a valid five-field expression, else what is wrong."""
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
    if state.last_run_at is None:
        return True
    next_run = state.next_run_at or next_run_after(digest.schedule, digest.timezone,
                                                   state.last_run_at)
    return now >= next_run

