"""Incremental clustering: new entries join the stories already stored instead of copying them."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from aggregator.cluster import Clusterer, plan_clusters
from aggregator.config import ClusterSettings
from aggregator.model import ClusterPlan, Entry
from tests.bundled import EVENTS, SG, TN, find, load_bundled

THRESHOLD = ClusterSettings().threshold
WINDOW = timedelta(hours=72)
GROUPED = EVENTS
FIRST_STORY_ID = 100


def store(entries: list[Entry], plan: ClusterPlan) -> list[Entry]:
    """Apply a first-pass plan as the store would: each new story gets an id."""
    story_ids: dict[int, int] = {}
    for offset, story in enumerate(plan.new_stories):
        for entry_id in story.entry_ids:
            story_ids[entry_id] = FIRST_STORY_ID + offset
    assert not plan.joins
    return [dataclasses.replace(e, story_id=story_ids[e.id or 0]) for e in entries]


@pytest.fixture(scope="module")
def halves() -> tuple[list[Entry], list[Entry]]:
    ordered = sorted(load_bundled(), key=lambda e: (e.published, e.id or 0))
    middle = len(ordered) // 2
    return ordered[:middle], ordered[middle:]


@pytest.fixture(scope="module")
def second_pass(
    halves: tuple[list[Entry], list[Entry]],
) -> tuple[list[Entry], ClusterPlan]:
    first, second = halves
    stored = store(first, plan_clusters(first, [], threshold=THRESHOLD, window=WINDOW))
    return stored, plan_clusters(second, stored, threshold=THRESHOLD, window=WINDOW)


def final_story(entry_id: int, stored: list[Entry], plan: ClusterPlan) -> str:
    for candidate in stored:
        if candidate.id == entry_id:
            return f"story-{candidate.story_id}"
    for story_id, entry_ids in plan.joins.items():
        if entry_id in entry_ids:
            return f"story-{story_id}"
    for index, story in enumerate(plan.new_stories):
        if entry_id in story.entry_ids:
            return f"new-{index}"
    raise AssertionError(f"entry {entry_id} was not placed")


def test_events_spanning_both_passes_join_the_stored_story(
    halves: tuple[list[Entry], list[Entry]], second_pass: tuple[list[Entry], ClusterPlan]
) -> None:
    first, second = halves
    stored, plan = second_pass
    first_ids = {e.id for e in first}
    spanning = 0
    for refs in GROUPED.values():
        members = [find(stored + second, (feed_id, part)) for feed_id, part in refs]
        early = [m for m in members if m.id in first_ids]
        late = [m for m in members if m.id not in first_ids]
        if not early or not late:
            continue
        spanning += 1
        (story_id,) = {m.story_id for m in early}
        assert story_id is not None
        assert all(m.id in plan.joins.get(story_id, []) for m in late)
        new_ids = {i for story in plan.new_stories for i in story.entry_ids}
        assert not any(m.id in new_ids for m in late)  # no duplicate story for the event
    assert spanning, "the split must cut through at least one event to test joining"


def test_every_new_entry_is_placed_once_and_no_candidate_is_moved(
    halves: tuple[list[Entry], list[Entry]], second_pass: tuple[list[Entry], ClusterPlan]
) -> None:
    _, second = halves
    stored, plan = second_pass
    joined = [i for ids in plan.joins.values() for i in ids]
    created = [i for story in plan.new_stories for i in story.entry_ids]
    assert sorted(joined + created) == sorted(e.id for e in second if e.id)
    stored_ids = {e.id for e in stored}
    assert stored_ids.isdisjoint(joined + created)
    assert set(plan.joins) <= {e.story_id for e in stored}


@pytest.mark.parametrize("event", list(GROUPED))
def test_events_end_grouped_after_two_passes(
    halves: tuple[list[Entry], list[Entry]],
    second_pass: tuple[list[Entry], ClusterPlan],
    event: str,
) -> None:
    _, second = halves
    stored, plan = second_pass
    members = [find(stored + second, (feed_id, part)) for feed_id, part in GROUPED[event]]
    assert len({final_story(m.id or 0, stored, plan) for m in members}) == 1


def test_candidates_without_a_story_are_not_join_targets(
    halves: tuple[list[Entry], list[Entry]],
) -> None:
    first, second = halves
    plan = plan_clusters(second, first, threshold=THRESHOLD, window=WINDOW)
    assert plan.joins == {}


def test_a_stored_story_outside_the_window_is_not_joined(
    halves: tuple[list[Entry], list[Entry]],
) -> None:
    everything = halves[0] + halves[1]
    tn = dataclasses.replace(find(everything, (TN, "gia-xang-ron-95")), story_id=7)
    sg = find(everything, (SG, "gia-xang-giam-lan-thu-ba"))
    # 24 h and a minute later: within the day of slack of the event-day check, so only
    # the (narrowed) window keeps it out.
    narrow = timedelta(hours=24)
    late = dataclasses.replace(sg, published=tn.published + narrow + timedelta(minutes=1))
    near = plan_clusters([late], [tn], threshold=THRESHOLD, window=WINDOW)
    assert near.joins == {7: [sg.id]}
    far = plan_clusters([late], [tn], threshold=THRESHOLD, window=narrow)
    assert far.joins == {}
    assert [story.entry_ids for story in far.new_stories] == [(late.id,)]


def test_a_clusterer_joins_later_batches_to_the_stories_the_store_created(
    halves: tuple[list[Entry], list[Entry]],
) -> None:
    first, second = halves
    clusterer = Clusterer(threshold=THRESHOLD, window=WINDOW)
    plan = clusterer.plan(first)
    created = list(range(FIRST_STORY_ID, FIRST_STORY_ID + len(plan.new_stories)))
    clusterer.settle(created)
    story_of = {i: s for s, g in zip(created, plan.new_stories, strict=True) for i in g.entry_ids}
    later = clusterer.plan(second)
    # The same decisions as planning the second half against the stored first half.
    stored = [dataclasses.replace(e, story_id=story_of[e.id or 0]) for e in first]
    assert later.joins == plan_clusters(second, stored, threshold=THRESHOLD, window=WINDOW).joins
    assert later.joins and set(later.joins) <= set(created)
    # It signs only the new entries: the first half is held in memory, not signed again.
    assert set(later.signatures) == {e.id for e in second}
