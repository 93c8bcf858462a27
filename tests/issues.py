"""Digest issues for tests: a frozen one with queued deliveries (the ledger, subscriptions,
the web pages: they need an issue, not the stories behind it), and one to render."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aggregator.model import DigestIssue, IssueSource, IssueStory
from aggregator.store import Store

SOURCE = IssueSource(feed_title="Tin Nhanh", title="Bão", url="https://news.example/a")
STORY = IssueStory(
    story_id=1,
    headline="Bão",
    url="https://news.example/a",
    summary="",
    published=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    sources=(SOURCE,),
)


def queue_issue(
    store: Store, now: datetime, *, digest: str = "daily", title: str = "Daily news"
) -> int:
    """A one-story issue of ``digest`` made at ``now``, one pending delivery per active
    subscriber; its id."""
    issue = store.create_issue(
        digest=digest,
        title=title,
        window_start=None,
        window_end=now,
        stories=[STORY],
        now=now,
        next_run_at=now + timedelta(days=1),
    )
    return issue.id


def sample_issue(
    headline: str = "Bão Nakri",
    *,
    second_outlet: str = "Sài Gòn Nhật Báo",
    follow_up_since: datetime | None = None,
) -> DigestIssue:
    """Issue 42 of "daily": one story reported by Tin Nhanh and ``second_outlet``."""
    created = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
    story = IssueStory(
        story_id=1,
        headline=headline,
        url="https://news.example/a",
        summary="Sơ tán 92.000 dân.",
        published=created,
        sources=(
            IssueSource(feed_title="Tin Nhanh", title="t", url="https://news.example/a"),
            IssueSource(feed_title=second_outlet, title="t2", url="https://sg.example/b"),
        ),
        follow_up_since=follow_up_since,
    )
    return DigestIssue(
        id=42,
        digest="daily",
        title="Bản tin – 2026-11-23",
        created_at=created,
        window_start=None,
        window_end=created,
        stories=(story,),
    )
