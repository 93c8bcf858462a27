"""Build a digest issue's content: pick the window's stories, rank them, freeze them.

Pure: stories in, a tuple of :class:`IssueStory` out. Ranking favours events
reported by more independent outlets, then recency. The frozen form carries
everything the email needs, so a retry renders the very same message.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from aggregator.config import DigestSettings
from aggregator.model import Entry, IssueSource, IssueStory, SentStory, Story


def select_stories(
    stories: Sequence[Story], digest: DigestSettings, *, feed_ids: Set[int] | None = None
) -> list[Story]:
    """The digest's filters: entries of its feeds (``feed_ids``, None: all) and languages;
    then only stories where some entry's title or summary has one of its keywords."""
    # Here: the normalize package loads lxml and nh3, and reading a config with digests
    # (its cron check) imports this package in every command.
    from aggregator.normalize.language import primary_subtag

    languages = {primary_subtag(code) for code in digest.languages}
    keywords = [
        re.compile(rf"(?<!\w){re.escape(_folded(word.strip()))}(?!\w)")
        for word in digest.keywords
        if word.strip()
    ]
    picked: list[Story] = []
    for story in stories:
        entries = tuple(
            e
            for e in story.entries
            if (feed_ids is None or e.feed_id in feed_ids)
            and (not languages or primary_subtag(e.language) in languages)
        )
        if not entries:
            continue
        if keywords and not any(
            k.search(_folded(f"{e.title}\n{e.summary}")) for e in entries for k in keywords
        ):
            continue
        picked.append(
            story if len(entries) == len(story.entries) else replace(story, entries=entries)
        )
    return picked


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def rank_stories(
    stories: Sequence[Story],
    *,
    limit: int,
    priority: Mapping[int, int] | None = None,
    per_feed: int = 0,
) -> list[Story]:
    """Most independent sources first, then feed priority, then recency; at most
    ``per_feed`` stories led by one feed (0: no cap)."""
    weights = priority or {}

    def key(story: Story) -> tuple[int, int, datetime, int]:
        top = max((weights.get(e.feed_id or 0, 0) for e in story.entries), default=0)
        return (story.source_count, top, story.newest, story.id)

    ranked: list[Story] = []
    led: Counter[int | None] = Counter()
    for story in sorted(stories, key=key, reverse=True):
        if len(ranked) >= limit:
            break
        feed = lead_entry(story).feed_id
        if per_feed and led[feed] >= per_feed:
            continue
        led[feed] += 1
        ranked.append(story)
    return ranked


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
    *,
    feed_ids: Set[int] | None = None,
    priority: Mapping[int, int] | None = None,
) -> tuple[IssueStory, ...]:
    """The issue's stories: the digest's filters, then new stories first, then follow-ups
    of stories an earlier issue carried that more outlets have joined since (never the
    same story twice), ranked and capped (see :func:`rank_stories`)."""
    sent = sent or {}
    stories = select_stories(stories, digest, feed_ids=feed_ids)
    fresh = [s for s in stories if s.id not in sent]
    later: list[tuple[Story, SentStory]] = []
    for story in stories:
        earlier = sent.get(story.id)
        if earlier is None:
            continue
        joined = tuple(e for e in story.entries if e.url not in earlier.urls)
        if joined:  # nothing new about it: not sent again
            later.append((replace(story, entries=joined), earlier))

    def ranked(candidates: Sequence[Story], limit: int) -> list[Story]:
        return rank_stories(
            candidates, limit=limit, priority=priority, per_feed=digest.max_per_feed
        )

    picked = ranked(fresh, digest.max_stories)
    follow_ups = ranked([s for s, _ in later], max(digest.max_stories - len(picked), 0))
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
    """Our own words only: feed text never reaches a subject line.

    The day is the digest's own (its time zone), written as its locale writes dates:
    "December 7, 2026", "7 tháng 12, 2026".
    """
    # Loaded here, not at the top: Babel is not needed by the stages that import digest
    # only to filter entries (a fetch pass loads none of it).
    from aggregator.publish.i18n import format_day

    local = now.astimezone(ZoneInfo(digest.timezone))
    return f"{digest.title or digest.name} – {format_day(local, digest.locale, 'long')}"
