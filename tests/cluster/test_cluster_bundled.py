"""plan_clusters on the bundled feeds: the events of feeds/STORIES.md, and its near misses."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import pytest

from aggregator.cluster import plan_clusters
from aggregator.config import ClusterSettings
from aggregator.model import ClusterPlan, Entry
from tests.bundled import EVENTS, HT, MR, SG, TL, TN, find, load_bundled

THRESHOLD = ClusterSettings().threshold
WINDOW = timedelta(hours=72)  # the config default
WIDE = timedelta(days=30)
# The events of feeds/STORIES.md reported in both languages, with all their sources.
BOTH_LANGUAGES = {
    "E1 typhoon (vi + en)": [
        (TN, "bao-nakri"),
        (SG, "bao-nakri"),
        (MR, "typhoon-nakri"),
        (TL, "typhoon-nakri"),
    ],
    "E5 chip plant (vi + en)": [
        (TN, "dong-goi-chip"),
        (SG, "nha-may-ban-dan"),
        (HT, "hai-au-semiconductor"),
        (TL, "hai-au-bac-ninh"),
    ],
}
ALL_EVENTS = {
    **EVENTS,
    **BOTH_LANGUAGES,
    "E6 Mekong flows": [(MR, "kratie"), (TL, "kratie")],
}
MUST_GROUP = list(ALL_EVENTS)


def story_of(plan: ClusterPlan, candidates: Sequence[Entry] = ()) -> dict[int, str]:
    """Entry id -> a story label, for new stories, joins and already placed candidates."""
    stories = {e.id: f"story-{e.story_id}" for e in candidates if e.id and e.story_id}
    for index, story in enumerate(plan.new_stories):
        for entry_id in story.entry_ids:
            stories[entry_id] = f"new-{index}"
    for story_id, entry_ids in plan.joins.items():
        for entry_id in entry_ids:
            stories[entry_id] = f"story-{story_id}"
    return stories


@pytest.fixture(scope="module")
def bundled() -> list[Entry]:
    return load_bundled()


@pytest.fixture(scope="module")
def stories(bundled: list[Entry]) -> dict[int, str]:
    plan = plan_clusters(bundled, [], threshold=THRESHOLD, window=WINDOW)
    return story_of(plan)


def test_every_entry_is_placed_exactly_once(bundled: list[Entry]) -> None:
    plan = plan_clusters(bundled, [], threshold=THRESHOLD, window=WINDOW)
    placed = [entry_id for story in plan.new_stories for entry_id in story.entry_ids]
    assert sorted(placed) == sorted(e.id for e in bundled if e.id)
    assert plan.joins == {}  # no candidates: nothing to join


@pytest.mark.parametrize("event", MUST_GROUP)
def test_multi_source_event_forms_one_story(
    bundled: list[Entry], stories: dict[int, str], event: str
) -> None:
    labels = {stories[find(bundled, ref).id or 0] for ref in ALL_EVENTS[event]}
    assert len(labels) == 1


def test_no_story_mixes_entries_of_different_events(
    bundled: list[Entry], stories: dict[int, str]
) -> None:
    event_of = {find(bundled, ref).id: name for name, refs in ALL_EVENTS.items() for ref in refs}
    members: dict[str, set[str]] = {}
    for entry in bundled:
        # An entry of no listed event is its own event (a single-source story).
        members.setdefault(stories[entry.id or 0], set()).add(event_of.get(entry.id, str(entry.id)))
    assert all(len(events) == 1 for events in members.values())


@pytest.mark.parametrize("window", [WINDOW, WIDE], ids=["72h", "30-days"])
@pytest.mark.parametrize(
    ("first", "second"),
    [("E3 budget", "E4 bridge"), ("E7 SongPay round", "E9 SongPay outage")],
    ids=["E3-vs-E4", "E7-vs-E9"],
)
def test_near_miss_events_stay_apart(
    bundled: list[Entry], first: str, second: str, window: timedelta
) -> None:
    # The pairs are four days apart; the 30-day window shows similarity alone keeps them apart.
    stories = story_of(plan_clusters(bundled, [], threshold=THRESHOLD, window=window))
    first_labels = {stories[find(bundled, ref).id or 0] for ref in EVENTS[first]}
    second_labels = {stories[find(bundled, ref).id or 0] for ref in EVENTS[second]}
    assert first_labels.isdisjoint(second_labels)


def test_only_the_events_reported_in_both_languages_mix_languages(
    bundled: list[Entry], stories: dict[int, str]
) -> None:
    languages: dict[str, set[str]] = {}
    for entry in bundled:
        languages.setdefault(stories[entry.id or 0], set()).add(entry.language)
    mixed = {label for label, found in languages.items() if len(found) > 1}
    expected = {stories[find(bundled, refs[0]).id or 0] for refs in BOTH_LANGUAGES.values()}
    assert mixed == expected
    # The Vietnamese piece on low floods in Dong Thap is not the English Mekong flows story.
    floods = find(bundled, (SG, "10222"))
    kratie = find(bundled, (MR, "kratie"))
    assert stories[floods.id or 0] != stories[kratie.id or 0]


def test_a_story_is_led_by_its_earliest_entry(
    bundled: list[Entry],
) -> None:
    plan = plan_clusters(bundled, [], threshold=THRESHOLD, window=WINDOW)
    by_id = {e.id: e for e in bundled}
    for story in plan.new_stories:
        members = [by_id[entry_id] for entry_id in story.entry_ids]
        assert members[0].published == min(m.published for m in members)
        assert story.title == members[0].title


def test_an_entry_outside_the_window_starts_a_new_story(bundled: list[Entry]) -> None:
    tn = find(bundled, EVENTS["E2 petrol"][0])
    sg = find(bundled, EVENTS["E2 petrol"][1])
    # A day later: outside a 24 h window, yet within the day of slack the event-day check
    # allows (a report filed the next day), so only the window can keep them apart.
    late = dataclasses.replace(sg, published=tn.published + timedelta(hours=25))
    narrow = timedelta(hours=24)

    apart = story_of(plan_clusters([tn, late], [], threshold=THRESHOLD, window=narrow))
    assert apart[tn.id or 0] != apart[late.id or 0]
    # Same two texts inside the window: grouped, so the window made the difference.
    together = story_of(plan_clusters([tn, late], [], threshold=THRESHOLD, window=WINDOW))
    assert together[tn.id or 0] == together[late.id or 0]


def test_a_report_three_days_after_an_event_with_no_date_of_its_own_stays_apart(
    bundled: list[Entry],
) -> None:
    # The same texts within the 30-day window: an undated report's day is its publication
    # day, and three days is another event (the ministers' two meetings in one week).
    tn = find(bundled, EVENTS["E2 petrol"][0])
    sg = find(bundled, EVENTS["E2 petrol"][1])
    later = dataclasses.replace(sg, published=tn.published + timedelta(days=3))
    stories = story_of(plan_clusters([tn, later], [], threshold=THRESHOLD, window=WIDE))
    assert stories[tn.id or 0] != stories[later.id or 0]


def test_a_higher_threshold_splits_a_weakly_similar_story(bundled: list[Entry]) -> None:
    refs = EVENTS["E7 SongPay round"]
    entries = [find(bundled, ref) for ref in refs]
    strict = story_of(plan_clusters(bundled, [], threshold=0.9, window=WINDOW))
    assert len({strict[e.id or 0] for e in entries}) == len(entries)


def test_no_new_entries_gives_an_empty_plan(bundled: list[Entry]) -> None:
    assert plan_clusters([], bundled, threshold=THRESHOLD, window=WINDOW) == ClusterPlan()
