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

from aggregator.cluster.similarity import cosine, features, idf_table, tfidf_vector
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

    # Every placed entry is a comparison target with the story (or new group) it belongs to.
    placed: list[tuple[Entry, int | str]] = [(e, e.story_id) for e in candidates if e.story_id]
    joins: dict[int, list[int]] = {}
    groups: dict[str, list[Entry]] = {}
    for entry in sorted(new, key=lambda e: (e.published, e.id or 0)):
        assert entry.id is not None, "cluster entries after they are stored"
        best_target: int | str | None = None
        best_score = threshold
        for other, target in placed:
            if not _comparable(entry, other, window):
                continue
            score = cosine(vectors[id(entry)], vectors[id(other)])
            if score >= best_score:
                best_target, best_score = target, score
        if isinstance(best_target, int):
            joins.setdefault(best_target, []).append(entry.id)
        elif isinstance(best_target, str):
            groups[best_target].append(entry)
        else:
            best_target = f"new-{entry.id}"
            groups[best_target] = [entry]
        placed.append((entry, best_target))
    return ClusterPlan(
        joins=joins,
        new_stories=[
            NewStory(title=members[0].title, entry_ids=tuple(e.id for e in members if e.id))
            for members in groups.values()
        ],
    )


def _comparable(entry: Entry, other: Entry, window: timedelta) -> bool:
    if entry.language and other.language and entry.language != other.language:
        return False
    return abs(entry.published - other.published) <= window
