"""Queries on ``entries`` and ``stories``: what we have read, and how it is grouped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, insert, select, update

from aggregator.model import ClusterPlan, Entry, Story
from aggregator.store.database import Database
from aggregator.store.schema import entries, feeds, stories

_CHANGING = ("url", "title", "author", "updated_at", "summary", "content_html", "tags")


def _entry_select() -> Select[Any]:
    return select(entries, func.coalesce(feeds.c.title, "").label("feed_title")).join(
        feeds, feeds.c.id == entries.c.feed_id
    )


def row_to_entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        feed_id=row.feed_id,
        entry_key=row.entry_key,
        url=row.url,
        title=row.title,
        author=row.author,
        published=row.published_at,
        updated=row.updated_at,
        first_seen_at=row.first_seen_at,
        language=row.language,
        summary=row.summary,
        content_html=row.content_html,
        tags=tuple(row.tags or ()),
        story_id=row.story_id,
        feed_title=row.feed_title or "",
    )


def _entry_values(entry: Entry) -> dict[str, Any]:
    return {
        "url": entry.url,
        "title": entry.title,
        "author": entry.author,
        "published_at": entry.published,
        "updated_at": entry.updated,
        "language": entry.language,
        "summary": entry.summary,
        "content_html": entry.content_html,
        "tags": list(entry.tags),
    }


class EntryQueries:
    db: Database

    def upsert_entries(self, feed_id: int, batch: Sequence[Entry], *, now: datetime) -> list[Entry]:
        """Insert unseen entries, refresh changed ones; return only the new ones.

        The first-seen time and the story of a known entry never change, so an
        edited article does not come back as new in a digest; its ``updated_at``
        marks the edit. An entry whose guid changed while its link and content did
        not is the same article under a new identity: it is re-keyed, not duplicated.
        """
        if not batch:
            return []
        keys = [e.entry_key for e in batch]
        with self.db.write() as conn:
            known = {
                r.entry_key: r
                for r in conn.execute(
                    select(entries).where(
                        entries.c.feed_id == feed_id, entries.c.entry_key.in_(keys)
                    )
                )
            }
            fresh: list[dict[str, Any]] = []
            for entry in batch:
                values = _entry_values(entry)
                row = known.get(entry.entry_key)
                if row is None:
                    values.update(feed_id=feed_id, entry_key=entry.entry_key, first_seen_at=now)
                    fresh.append(values)
                elif any(getattr(row, k) != values[k] for k in _CHANGING):
                    values.pop("published_at")  # the original date stays; feeds re-date edits
                    if values["updated_at"] is None or values["updated_at"] == row.updated_at:
                        values["updated_at"] = now  # edited without saying so: mark it
                    conn.execute(update(entries).where(entries.c.id == row.id).values(**values))
            fresh = self._rekey_moved_guids(conn, feed_id, keys, fresh)
            if not fresh:
                return []
            # One multi-row INSERT ... RETURNING per feed, not a statement per entry.
            inserted = conn.execute(
                insert(entries).returning(entries.c.id, entries.c.entry_key), fresh
            ).all()
            title = conn.execute(select(feeds.c.title).where(feeds.c.id == feed_id)).scalar_one()
        ids = {row.entry_key: row.id for row in inserted}
        return [
            replace(e, id=ids[e.entry_key], feed_id=feed_id, first_seen_at=now, feed_title=title)
            for e in batch
            if e.entry_key in ids
        ]

    @staticmethod
    def _rekey_moved_guids(
        conn: Connection, feed_id: int, keys: Sequence[str], fresh: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Unknown keys whose link and content match a stored entry: same article, new guid.

        The stored entry takes the new key (so the next fetch matches it directly);
        what is left is truly new.
        """
        by_url = {values["url"]: values for values in fresh if values["url"]}
        if not by_url:
            return fresh
        rows = conn.execute(
            select(entries.c.id, entries.c.url, entries.c.title, entries.c.content_html).where(
                entries.c.feed_id == feed_id,
                entries.c.url.in_(list(by_url)),
                entries.c.entry_key.not_in(keys),
            )
        ).all()
        moved: set[str] = set()
        for row in rows:
            values = by_url.get(row.url)
            if values is None or values["entry_key"] in moved:
                continue
            same = (row.content_html == values["content_html"] and row.content_html) or (
                not values["content_html"] and row.title == values["title"]
            )
            if same:
                conn.execute(
                    update(entries)
                    .where(entries.c.id == row.id)
                    .values(entry_key=values["entry_key"])
                )
                moved.add(values["entry_key"])
        return [values for values in fresh if values["entry_key"] not in moved]

    def known_urls(self, feed_id: int, urls: Sequence[str]) -> set[str]:
        """Which of ``urls`` are already the link of an entry of this feed."""
        if not urls:
            return set()
        query = select(entries.c.url).where(entries.c.feed_id == feed_id, entries.c.url.in_(urls))
        with self.db.read() as conn:
            return {row.url for row in conn.execute(query)}

    def list_entries(self, *, limit: int = 50, feed_id: int | None = None) -> list[Entry]:
        query = _entry_select().order_by(entries.c.published_at.desc(), entries.c.id.desc())
        if feed_id is not None:
            query = query.where(entries.c.feed_id == feed_id)
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query.limit(limit))]

    def count_entries(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(entries)).scalar_one())

    def unclustered_entries(self, *, limit: int = 5000) -> list[Entry]:
        query = (
            _entry_select()
            .where(entries.c.story_id.is_(None))
            .order_by(entries.c.published_at, entries.c.id)
        )
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query.limit(limit))]

    def clustered_entries_since(self, since: datetime) -> list[Entry]:
        """Entries already in a story and published after ``since``: candidates to join."""
        query = (
            _entry_select()
            .where(entries.c.story_id.is_not(None), entries.c.published_at >= since)
            .order_by(entries.c.id)
        )
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query)]

    def apply_cluster_plan(self, plan: ClusterPlan, *, now: datetime) -> None:
        """Create the plan's new stories and attach entries, in one transaction."""
        with self.db.write() as conn:
            for story_id, entry_ids in plan.joins.items():
                conn.execute(
                    update(entries).where(entries.c.id.in_(entry_ids)).values(story_id=story_id)
                )
                conn.execute(update(stories).where(stories.c.id == story_id).values(updated_at=now))
            for group in plan.new_stories:
                story_id = conn.execute(
                    insert(stories)
                    .values(title=group.title, created_at=now, updated_at=now)
                    .returning(stories.c.id)
                ).scalar_one()
                conn.execute(
                    update(entries)
                    .where(entries.c.id.in_(group.entry_ids))
                    .values(story_id=story_id)
                )

    def list_stories(
        self,
        *,
        limit: int = 50,
        seen_after: datetime | None = None,
        seen_until: datetime | None = None,
        tags: Sequence[str] = (),
    ) -> list[Story]:
        """Stories, most recently updated first, each with all its entries (lead first).

        With ``seen_after``/``seen_until`` only stories with an entry first seen in
        that window; with ``tags`` only entries of feeds carrying one of the tags.
        """
        query = _entry_select().where(entries.c.story_id.is_not(None))
        with self.db.read() as conn:
            if seen_after is not None or seen_until is not None:
                window = select(entries.c.story_id).where(entries.c.story_id.is_not(None))
                if seen_after is not None:
                    window = window.where(entries.c.first_seen_at > seen_after)
                if seen_until is not None:
                    window = window.where(entries.c.first_seen_at <= seen_until)
                query = query.where(entries.c.story_id.in_(window.distinct()))
            else:
                newest = (
                    select(stories.c.id)
                    .order_by(stories.c.updated_at.desc(), stories.c.id.desc())
                    .limit(limit)
                )
                query = query.where(entries.c.story_id.in_(newest.scalar_subquery()))
            rows = [row_to_entry(r) for r in conn.execute(query.order_by(entries.c.id))]
            feed_tags = {
                r.id: set(r.tags or ()) for r in conn.execute(select(feeds.c.id, feeds.c.tags))
            }
            story_rows = {r.id: r for r in conn.execute(select(stories))}
        wanted = set(tags)
        grouped: dict[int, list[Entry]] = {}
        for entry in rows:
            if wanted and not wanted & feed_tags.get(entry.feed_id, set()):
                continue
            assert entry.story_id is not None
            grouped.setdefault(entry.story_id, []).append(entry)
        result = [
            Story(
                id=story_id,
                title=story_rows[story_id].title,
                entries=tuple(members),
                created_at=story_rows[story_id].created_at,
                updated_at=story_rows[story_id].updated_at,
            )
            for story_id, members in grouped.items()
        ]
        result.sort(key=lambda s: (s.updated_at, s.newest, s.id), reverse=True)
        return result[:limit]
