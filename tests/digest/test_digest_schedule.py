"""When digests run (cron in their own zone, across DST) and what an issue holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.config import DigestSettings
from aggregator.digest import (
    Due,
    build_issue_stories,
    catch_up,
    check_cron,
    is_due,
    issue_title,
    next_run_after,
)
from aggregator.model import DigestState, Entry, SentStory, Story


@pytest.mark.parametrize(
    ("cron", "zone", "after", "expected"),
    [
        # 07:00 in Hanoi is 00:00 UTC; strictly after the instant given.
        ("0 7 * * *", "Asia/Ho_Chi_Minh", "2026-11-23T12:00Z", "2026-11-24T00:00Z"),
        ("0 7 * * *", "Asia/Ho_Chi_Minh", "2026-11-24T00:00Z", "2026-11-25T00:00Z"),
        # New York: EST is UTC-5, EDT UTC-4; DST starts 2026-03-08 and ends 2026-11-01.
        ("0 8 * * *", "America/New_York", "2026-03-07T14:00Z", "2026-03-08T12:00Z"),
        ("0 8 * * *", "America/New_York", "2026-10-31T13:00Z", "2026-11-01T13:00Z"),
        # 02:30 does not exist on the spring-forward day: the run is not lost.
        ("30 2 * * *", "America/New_York", "2026-03-08T05:00Z", "2026-03-08T07:30Z"),
        # Standard cron weekdays: 1 = Monday, 0 and 7 = Sunday (2026-11-23 is a Monday).
        ("0 9 * * 1", "UTC", "2026-11-23T09:00Z", "2026-11-30T09:00Z"),
        ("0 9 * * 0", "UTC", "2026-11-23T09:00Z", "2026-11-29T09:00Z"),
        ("0 9 * * 7", "UTC", "2026-11-23T09:00Z", "2026-11-29T09:00Z"),
        ("0 9 * * 1-5", "UTC", "2026-11-27T10:00Z", "2026-11-30T09:00Z"),
    ],
)
def test_next_run_follows_the_digest_time_zone(
    cron: str, zone: str, after: str, expected: str
) -> None:
    got = next_run_after(cron, zone, datetime.fromisoformat(after))
    assert got == datetime.fromisoformat(expected)
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "cron", ["0 7 * *", "61 7 * * *", "0 7 * * mon-foo", "every day", "0 7 * * 8", "0 7 * * 5-2"]
)
def test_invalid_cron_is_explained(cron: str) -> None:
    assert check_cron(cron, "UTC")


def test_a_digest_never_sent_is_due_at_once_then_follows_its_schedule() -> None:
    spec = DigestSettings(name="d", schedule="0 7 * * *", timezone="UTC")
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert is_due(spec, DigestState(name="d"), now)
    sent = DigestState(name="d", last_run_at=now, next_run_at=datetime(2026, 11, 24, 7, tzinfo=UTC))
    assert not is_due(spec, sent, now + timedelta(hours=18, minutes=59))
    assert is_due(spec, sent, now + timedelta(hours=19))


GRACE = timedelta(hours=12)


@pytest.mark.parametrize(
    ("back_at", "expected"),
    [
        # Down from Monday 06:00 to Wednesday: the Monday, Tuesday and Wednesday 07:00
        # runs passed. The latest is what counts, and only one issue is built.
        ("2026-11-25T10:00", Due.RUN),  # three hours after Wednesday's run
        ("2026-11-25T19:00", Due.RUN),  # twelve hours after: still within the grace
        ("2026-11-25T19:01", Due.SKIP),  # later: skipped, the next issue carries it all
        ("2026-11-23T06:59", Due.WAIT),  # before the first missed run: nothing missed
    ],
)
def test_after_downtime_at_most_the_latest_missed_run_is_sent(back_at: str, expected: Due) -> None:
    spec = DigestSettings(name="d", schedule="0 7 * * *", timezone="UTC")
    sent = DigestState(
        name="d",
        last_run_at=datetime(2026, 11, 22, 7, tzinfo=UTC),
        next_run_at=datetime(2026, 11, 23, 7, tzinfo=UTC),
    )
    now = datetime.fromisoformat(back_at).replace(tzinfo=UTC)
    assert catch_up(spec, sent, now, grace=GRACE) is expected
    assert catch_up(spec, sent, now, grace=None) is (Due.WAIT if expected is Due.WAIT else Due.RUN)


def test_catch_up_reads_the_missed_runs_in_the_digest_zone_across_dst() -> None:
    # 08:00 in New York is 12:00 UTC in summer time and 13:00 UTC after 2026-11-01.
    spec = DigestSettings(name="d", schedule="0 8 * * *", timezone="America/New_York")
    sent = DigestState(
        name="d",
        last_run_at=datetime(2026, 10, 30, 12, tzinfo=UTC),
        next_run_at=datetime(2026, 10, 31, 12, tzinfo=UTC),
    )
    one_hour = timedelta(hours=1)
    latest = datetime(2026, 11, 2, 13, tzinfo=UTC)  # Monday 08:00 EST
    assert catch_up(spec, sent, latest + one_hour, grace=one_hour) is Due.RUN
    assert catch_up(spec, sent, latest + one_hour + timedelta(minutes=1), grace=one_hour) is (
        Due.SKIP
    )


def story(story_id: int, feeds: int, newest: datetime, summary: str = "s") -> Story:
    members = tuple(
        Entry(
            id=story_id * 10 + n,
            feed_id=n,
            entry_key=f"{story_id}-{n}",
            url=f"https://f{n}.example/{story_id}",
            title=f"Story {story_id} at feed {n}",
            published=newest - timedelta(minutes=n),
            summary=summary * (n + 1),
            feed_title=f"Feed {n}",
        )
        for n in range(feeds)
    )
    return Story(
        id=story_id,
        title=f"Story {story_id}",
        entries=members,
        created_at=newest,
        updated_at=newest,
    )


def test_stories_rank_by_sources_then_recency_and_are_capped() -> None:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    stories = [
        story(1, 1, base + timedelta(hours=5)),
        story(2, 3, base),
        story(3, 1, base + timedelta(hours=6)),
        story(4, 2, base),
    ]
    frozen = build_issue_stories(stories, DigestSettings(name="d", max_stories=3))
    assert [s.story_id for s in frozen] == [2, 4, 3]


def test_frozen_story_leads_with_the_fullest_source_and_lists_the_others() -> None:
    (frozen,) = build_issue_stories(
        [story(1, 3, datetime(2026, 11, 23, tzinfo=UTC), "abc ")], DigestSettings(name="d")
    )
    assert frozen.headline == "Story 1 at feed 2"  # the longest summary
    assert [s.feed_title for s in frozen.sources] == ["Feed 2", "Feed 1", "Feed 0"]
    assert frozen.published == datetime(2026, 11, 23, tzinfo=UTC) - timedelta(minutes=2)


def test_a_story_already_sent_comes_back_only_as_a_follow_up_with_its_new_sources() -> None:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    grown, unchanged, fresh = story(1, 4, base), story(2, 2, base), story(3, 1, base)
    first_sent = base - timedelta(days=1)
    sent = {
        1: SentStory(first_sent_at=first_sent, urls=frozenset(e.url for e in grown.entries[:2])),
        2: SentStory(first_sent_at=first_sent, urls=frozenset(e.url for e in unchanged.entries)),
    }
    frozen = build_issue_stories([grown, unchanged, fresh], DigestSettings(name="d"), sent)
    assert [s.story_id for s in frozen] == [3, 1]  # new first; nothing new about story 2
    follow_up = frozen[1]
    assert follow_up.follow_up_since == first_sent and follow_up.earlier_sources == 2
    assert sorted(s.feed_title for s in follow_up.sources) == ["Feed 2", "Feed 3"]
    assert frozen[0].follow_up_since is None


def test_follow_ups_only_fill_the_room_new_stories_leave() -> None:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    old = story(1, 3, base)
    sent = {1: SentStory(first_sent_at=base, urls=frozenset({old.entries[0].url}))}
    frozen = build_issue_stories(
        [old, story(2, 1, base), story(3, 1, base)], DigestSettings(name="d", max_stories=2), sent
    )
    assert [s.story_id for s in frozen] == [3, 2]  # equal rank: the newer id first


def test_filters_keep_the_digest_feeds_languages_and_keywords() -> None:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    flood, vote = story(1, 3, base), story(2, 2, base)
    flood = replace(
        flood,
        entries=tuple(
            replace(e, language="vi" if e.feed_id else "en", title=f"Lũ lớn ở Huế {e.feed_id}")
            for e in flood.entries
        ),
    )
    spec = DigestSettings(name="d", languages=("vi",), keywords=("LŨ LỚN",))
    (only,) = build_issue_stories([flood, vote], spec)
    assert only.story_id == 1 and {s.feed_title for s in only.sources} == {"Feed 1", "Feed 2"}
    by_feed = build_issue_stories([flood, vote], DigestSettings(name="d"), feed_ids={0})
    assert sorted(s.story_id for s in by_feed) == [1, 2]
    assert all(len(s.sources) == 1 for s in by_feed)
    # Whole words only: "art" is not in "party".
    party = replace(vote, entries=tuple(replace(e, title="A party") for e in vote.entries))
    assert build_issue_stories([party], DigestSettings(name="d", keywords=("art",))) == ()


def test_priority_breaks_ties_and_one_feed_cannot_fill_the_issue() -> None:
    base = datetime(2026, 11, 23, tzinfo=UTC)
    stories = [story(i, 1, base + timedelta(minutes=i)) for i in range(1, 5)]  # all feed 0
    capped = build_issue_stories(stories, DigestSettings(name="d", max_per_feed=2))
    assert [s.story_id for s in capped] == [4, 3]
    other = replace(
        story(9, 1, base), entries=tuple(replace(e, feed_id=7) for e in story(9, 1, base).entries)
    )
    ranked = build_issue_stories([*stories, other], DigestSettings(name="d"), priority={7: 5})
    assert ranked[0].story_id == 9  # as many sources, older, but from the priority feed


def test_issue_title_uses_the_digest_date_in_its_zone_and_locale() -> None:
    evening_utc = datetime(2026, 11, 23, 18, tzinfo=UTC)  # already the 24th in Hanoi
    spec = DigestSettings(name="daily", title="Bản tin", timezone="Asia/Ho_Chi_Minh", locale="vi")
    assert issue_title(spec, evening_utc) == "Bản tin – 24 tháng 11, 2026"
    english = replace(spec, title="Daily", locale="en")
    assert issue_title(english, evening_utc) == "Daily – November 24, 2026"
    in_new_york = replace(english, timezone="America/New_York")
    assert issue_title(in_new_york, evening_utc) == "Daily – November 23, 2026"
