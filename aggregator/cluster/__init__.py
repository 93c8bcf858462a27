"""Stage 5, cluster: group entries about the same event into stories, incrementally.

Each new entry is compared with the entries already in stories (and with the new
entries before it) that are in the same language and within the time window; it
joins the story of its most similar entry when the similarity reaches the
threshold, and starts a new story otherwise. Nothing is recomputed: an entry's
story never changes once assigned. Errs towards precision: two events wrongly
merged hide news, two copies of one event are merely noise.

Pure: entries in, a :class:`ClusterPlan` out; the store applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from aggregator.cluster.similarity import features, idf_table, tfidf_vector
from aggregator.model import ClusterPlan, Entry, NewStory

__all__ = ["plan_clusters"]


def plan_clusters(
    new: Sequence[Entry],
    candidates: Sequence[Entry],
    *,
    threshold: float,
    window: timedelta,
) -> ClusterPlan:
    """Decide a story for every entry of ``new`` (which must have store ids)."""
    if not new:
        return ClusterPlan()
    pool = list(candidates) + list(new)
    bags = {id(e): features(e) for e in pool}
    idf = idf_table(bags.values())
    vectors = {id(e): tfidf_vector(bags[id(e)], idf) for e in pool}

    # Every placed entry is a comparison target with the story (or new group) it belongs
    # to. Scores are accumulated through an inverted index, so only pairs that share a
    # term are ever visited (the exact cosine, without the quadratic all-pairs loop).
    targets: list[tuple[Entry, int | str]] = []
    postings: dict[str, list[tuple[int, float]]] = {}
    # The same article syndicated by several feeds has one canonical URL: one story.
    by_url: dict[str, tuple[Entry, int | str]] = {}

    def place(entry: Entry, target: int | str) -> None:
        for term, weight in vectors[id(entry)].items():
            postings.setdefault(term, []).append((len(targets), weight))
        targets.append((entry, target))
        if entry.url:
            by_url.setdefault(entry.url, (entry, target))

    for candidate in candidates:
        if candidate.story_id:
            place(candidate, candidate.story_id)
    joins: dict[int, list[int]] = {}
    groups: dict[str, list[Entry]] = {}
    for entry in sorted(new, key=lambda e: (e.published, e.id or 0)):
        assert entry.id is not None, "cluster entries after they are stored"
        same_article = by_url.get(entry.url) if entry.url else None
        if same_article and abs(entry.published - same_article[0].published) <= window:
            best_target: int | str | None = same_article[1]
        else:
            best_target = _most_similar(
                entry, vectors[id(entry)], postings, targets, threshold, window
            )
        if isinstance(best_target, int):
            joins.setdefault(best_target, []).append(entry.id)
        elif isinstance(best_target, str):
            groups[best_target].append(entry)
        else:
            best_target = f"new-{entry.id}"
            groups[best_target] = [entry]
        place(entry, best_target)
    return ClusterPlan(
        joins=joins,
        new_stories=[
            NewStory(title=members[0].title, entry_ids=tuple(e.id for e in members if e.id))
            for members in groups.values()
        ],
    )


def _most_similar(
    entry: Entry,
    vector: dict[str, float],
    postings: dict[str, list[tuple[int, float]]],
    targets: list[tuple[Entry, int | str]],
    threshold: float,
    window: timedelta,
) -> int | str | None:
    """The story of the most similar comparable entry at or above ``threshold``."""
    scores: dict[int, float] = {}
    for term, weight in vector.items():
        for index, other_weight in postings.get(term, ()):
            scores[index] = scores.get(index, 0.0) + weight * other_weight
    best: tuple[float, int] | None = None
    for index, score in scores.items():
        if score >= threshold and (best is None or (score, -index) > (best[0], -best[1])):
            if _comparable(entry, targets[index][0], window):
                best = (score, index)
    return targets[best[1]][1] if best else None


def _comparable(entry: Entry, other: Entry, window: timedelta) -> bool:
    if entry.language and other.language and entry.language != other.language:
        return False
    return abs(entry.published - other.published) <= window
