"""One clusterer kept across the daemon's passes, checked against the store at each one.

Without it every pass builds a :class:`~aggregator.cluster.Clusterer` from every stored
entry of the window: the entries and their signatures are read and unpacked again, and
the peak of that pass (in proportion to the window) is what the process keeps. A
standing clusterer keeps the placed entries of the window instead; a pass reads only
the ids and stories of the window's clustered entries, places those it does not hold
(after a restart: all of them; otherwise the entries another process clustered, or late
ones older than what it had dropped), and plans the new ones.

What it holds must be what the store says: when an entry it holds is gone from the
window's clustered entries or sits in another story (retention, a failed write of a plan,
another process), it starts again from the store. So its plans are always those of a
clusterer made for the pass from the store (tests check that entry by entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from aggregator.cluster import Clusterer
from aggregator.config import ClusterSettings


class StandingClusterer:
    """A :class:`Clusterer` for pass after pass (see the module's docstring)."""

    def __init__(self) -> None:
        self._clusterer: Clusterer | None = None
        self._settings: ClusterSettings | None = None
        self.rebuilds = 0  # times it started again from the store (the first included)
        # Entries it read from the store while going on (not starting again): those another
        # process clustered, and those it had dropped that a later batch reaching further
        # back needed again (see cluster.late_margin).
        self.replaced = 0

    def begin(
        self, settings: ClusterSettings, *, stored: Mapping[int, int], since: datetime
    ) -> tuple[Clusterer, list[int]]:
        """The clusterer for a pass, and the ids of the entries it must place first.

        ``stored`` maps each clustered entry published at or after ``since`` (the start of
        the window of the pass's oldest new entry) to its story, as the store has them.
        """
        clusterer = self._clusterer
        if clusterer is None or settings != self._settings or not _agrees(clusterer, stored, since):
            clusterer = Clusterer(
                threshold=settings.threshold,
                window=timedelta(hours=settings.window_hours),
                duplicate=settings.duplicate,
            )
            self._clusterer, self._settings = clusterer, settings
            self.rebuilds += 1
            return clusterer, sorted(stored)
        clusterer.begin_pass()
        missing = sorted(i for i in stored if i not in clusterer)
        self.replaced += len(missing)
        return clusterer, missing

    def reset(self) -> None:
        """Forget everything: the next pass starts from the store (after a failed write)."""
        self._clusterer = None

    @property
    def entries(self) -> int:
        """Entries in memory (those out of the window not yet dropped included)."""
        return len(self._clusterer.index.targets) if self._clusterer else 0


def _agrees(clusterer: Clusterer, stored: Mapping[int, int], since: datetime) -> bool:
    return all(stored.get(i) == story for i, story in clusterer.placed(since.timestamp()).items())
