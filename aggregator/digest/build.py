"""Build a digest issue's content: pick the window's stories, rank them, freeze them.

Pure: stories in, a tuple of :class:`IssueStory` out. Ranking favours events
reported by more independent outlets, then recency. The frozen form carries
everything the email needs, so a retry renders the very same message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from aggregator.config import DigestSettings
from aggregator.model import Entry, IssueSource, IssueStory, SentStory, Story


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


def build_issue_stories(
    stories: Sequence[Story],
    digest: DigestSettings,
    sent: Mapping[int, SentStory] | None = None,
) -> tuple[IssueStory, ...]:
    """The issue's stories: new ones first, then follow-ups of stories an earlier issue
    carried that more outlets have joined since (never the same story twice)."""
    sent = sent or {}
    fresh = [s for s in stories if s.id not in sent]
    later: list[tuple[Story, SentStory]] = []
    for story in stories:
        earlier = sent.get(story.id)
        if earlier is None:
            continue
        joined = tuple(e for e in story.entries if e.url not in earlier.urls)
        if joined:  # nothing new about it: not sent again
            later.append((replace(story, entries=joined), earlier))
    picked = rank_stories(fresh, limit=digest.max_stories)
    room = digest.max_stories - len(picked)
    follow_ups = rank_stories([s for s, _ in later], limit=max(room, 0))
    earlier_of = {s.id: e for s, e in later}
    return tuple(freeze_story(s) for s in picked) + tuple(
        replace(
            freeze_story(s),
            follow_up_since=earlier_of[s.id].first_sent_at,
            earlier_sources=len(earlier_of[s.id].urls),
        )
        for s in follow_ups
    )


def issue_title(digest: DigestSettings, now: datetime) -> str:
    """Our own words only: feed text never reaches a subject line."""
    local = now.astimezone(ZoneInfo(digest.timezone))
    return f"{digest.title or digest.name} – {local:%Y-%m-%d}"
