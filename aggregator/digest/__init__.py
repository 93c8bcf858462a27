"""Stage 6, digest: decide when a digest is due and what its next issue holds.

``schedule.py`` answers *when* (cron in the digest's time zone), ``build.py``
answers *what* (the window's stories, ranked and frozen). Both are pure.
"""

from __future__ import annotations

from aggregator.digest.build import build_issue_stories, issue_title
from aggregator.digest.schedule import Due, catch_up, check_cron, is_due, next_run_after

__all__ = [
    "Due",
    "build_issue_stories",
    "catch_up",
    "check_cron",
    "is_due",
    "issue_title",
    "next_run_after",
]
