"""The clustering evaluation set in ``bench/cluster_eval/`` loads and is what issue 5 asks.

Checks the data and its feed documents only; no clustering quality is asserted here
(``python -m bench.cluster_quality`` reports it) and nothing is timed.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import pytest

from bench.cluster_quality import (
    HELD_OUT,
    EvalSet,
    feed_document,
    load_eval_set,
    pair_score,
    to_pipeline_entries,
)


@pytest.fixture(scope="module")
def data() -> EvalSet:
    return load_eval_set()


def test_the_set_is_large_and_varied_enough(data: EvalSet) -> None:
    articles = data.articles
    assert len(articles) >= 80
    assert len({a.story for a in articles}) >= 20
    assert len(data.outlets) >= 4
    assert {a.language for a in articles} == {"vi", "en"}
    assert {o.style for o in data.outlets} == {"wire", "feature", "headline"}
    assert {o.format for o in data.outlets} == {"rss", "atom", "json"}


def test_ids_are_unique_and_every_story_is_described(data: EvalSet) -> None:
    ids = [a.id for a in data.articles]
    assert len(ids) == len(set(ids))
    urls = Counter(a.url for a in data.articles)
    assert max(urls.values()) == 1  # syndicated copies differ in tracking parameters
    assert {a.story for a in data.articles} == set(data.stories)


def test_near_misses_name_existing_distinct_stories(data: EvalSet) -> None:
    assert len(data.near_misses) >= 6
    covered = {a.story for a in data.articles}
    for near in data.near_misses:
        assert near.a != near.b
        assert {near.a, near.b} <= covered
        assert near.why


def test_some_stories_cross_languages_and_some_are_singletons(data: EvalSet) -> None:
    languages: dict[str, set[str]] = {}
    for a in data.articles:
        languages.setdefault(a.story, set()).add(a.language)
    assert sum(1 for langs in languages.values() if len(langs) == 2) >= 5
    sizes = Counter(a.story for a in data.articles)
    assert sum(1 for n in sizes.values() if n == 1) >= 3


def test_dates_carry_zones_and_some_text_is_decomposed(data: EvalSet) -> None:
    assert all(a.published.utcoffset() is not None for a in data.articles)
    assert len({a.published.utcoffset() for a in data.articles}) >= 3
    nfd = [a for a in data.articles if not unicodedata.is_normalized("NFC", a.title)]
    assert nfd and all(a.language == "vi" for a in nfd)


def test_every_outlet_feeds_the_pipeline(data: EvalSet) -> None:
    for outlet in data.outlets:
        assert feed_document(outlet).content
    entries = to_pipeline_entries(data)
    assert set(entries) == {a.id for a in data.articles}
    assert all(unicodedata.is_normalized("NFC", e.title) for e in entries.values())
    assert len({e.id for e in entries.values()}) == len(entries)


def test_the_held_out_set_loads_with_its_own_stories_and_a_near_miss() -> None:
    held_out = load_eval_set(HELD_OUT)
    assert len(held_out.articles) >= 20 and len(held_out.stories) >= 6
    assert {a.story for a in held_out.articles} == set(held_out.stories)
    assert {a.language for a in held_out.articles} == {"vi", "en"}
    assert held_out.near_misses
    # Its stories are its own: none is a story of the main set.
    assert not set(held_out.stories) & set(load_eval_set().stories)


def test_pair_scores_from_group_sizes_count_what_the_pairs_would() -> None:
    # Truth: {1, 2} and {3, 4, 5}; predicted: {1, 2, 3} and {4, 5}.
    truth = {1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}
    predicted = {1: 10, 2: 10, 3: 10, 4: 20, 5: 20}
    counted = pair_score(truth, predicted)
    assert (counted.true_pairs, counted.predicted, counted.hits) == (4, 4, 2)
    assert counted.precision == counted.recall == 0.5
