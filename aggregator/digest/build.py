"""Build a digest issue's content: pick the window's stories, rank them, freeze them.

Pure: stories in, a tuple of :class:`IssueStory` out. Ranking favours events
reported by more independent outlets, then recency. The frozen form carries
everything the email needs, so a retry renders the very same message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from aggregator.config import DigestSettings
from aggregator.model import Entry, IssueSource, IssueStory, Story


def rank_stories(stories: Sequence[Story], *, limit: int) -> list[Story]:
    ordered = sorted(stories, key=lambda s: (s.source_count, s.newest, s.id), reverse=True)
    return ordered[:limit]


def lead_entry(story: Story) -> Entry:
    """The source whose text tells the most, earliest on a tie."""
    return max(story.entries, key=lambda e: (len(e.summary), -e.published.timestamp()))


def freeze_story(story: Story) -> IssueStory:
    lead = lead_entry(story)
    others = sorted((e for e in story.entries if e is not lead), key=lambda e: e.published)
    return IssueStory(
        story_id=story.id,
        headline=lead.title,
        url=lead.url,
        summary=lead.summary,
        published=min(e.published for e in story.entries),
        sources=tuple(
            IssueSource(feed_title=e.feed_title or e.url, title=e.title, url=e.url)
            for e in (lead, *others)
        ),
    )


def build_issue_stories(stories: Sequence[Story], digest: DigestSettings) -> tuple[IssueStory, ...]:
    return tuple(freeze_story(s) for s in rank_stories(stories, limit=digest.max_stories))


def issue_title(digest: DigestSettings, now: datetime) -> str:
    """Our own words only: feed text never reaches a subject line."""
    local = now.astimezone(ZoneInfo(digest.timezone))
    return f"{digest.title or digest.name} – {local:%Y-%m-%d}"
