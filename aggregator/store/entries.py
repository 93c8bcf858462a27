"""Queries on ``entries`` and ``stories``: what we have read, and how it is grouped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from aggregator.model import (
    ClusterPlan,
    DeliveryState,
    Enclosure,
    Entry,
    EntrySignature,
    PruneReport,
    Story,
)
from aggregator.store.database import Database
from aggregator.store.schema import (
    UTCDateTime,
    deliveries,
    digest_issues,
    entries,
    entry_signatures,
    feeds,
    stories,
    tombstones,
)


def _entry_select() -> Select[Any]:
    return select(entries, func.coalesce(feeds.c.title, "").label("feed_title")).join(
        feeds, feeds.c.id == entries.c.feed_id
    )


def _candidate_select() -> Select[Any]:
    """:func:`_entry_select` without the content: clustering compares stored signatures
    (and titles and summaries for an entry without one), and a daemon reading every entry
    of the window with its whole article each pass would hold megabytes it never reads."""
    columns = [c for c in entries.c if c.name != "content_html"]
    return select(
        *columns,
        literal("").label("content_html"),
        func.coalesce(feeds.c.title, "").label("feed_title"),
    ).join(feeds, feeds.c.id == entries.c.feed_id)


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
        enclosures=_enclosures_of(row.enclosures),
        story_id=row.story_id,
        feed_title=row.feed_title or "",
    )


def enclosure_rows(entry: Entry) -> list[dict[str, Any]]:
    """``entry``'s enclosures as the ``enclosures`` column keeps them (JSON)."""
    return [{"url": e.url, "type": e.type, "length": e.length} for e in entry.enclosures]


def _enclosures_of(value: Any) -> tuple[Enclosure, ...]:
    """The column's JSON read back; NULL (a row stored before 0007) is none."""
    if not isinstance(value, list):
        return ()
    return tuple(
        Enclosure(url=str(e["url"]), type=str(e.get("type") or ""), length=_length(e))
        for e in value
        if isinstance(e, dict) and e.get("url")
    )


def _length(stored: dict[str, Any]) -> int | None:
    length = stored.get("length")
    return length if isinstance(length, int) and not isinstance(length, bool) else None


def _changed(row: Any, entry: Entry) -> bool:
    """Whether the feed's version differs from the stored one in anything an edit changes."""
    return (
        row.content_html != entry.content_html
        or row.title != entry.title
        or row.summary != entry.summary
        or row.url != entry.url
        or row.author != entry.author
        or row.updated_at != entry.updated
        or list(row.tags or ()) != list(entry.tags)
        # NULL: stored before enclosures were kept; filled in without it counting as an edit.
        or (row.enclosures is not None and row.enclosures != enclosure_rows(entry))
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
        "enclosures": enclosure_rows(entry),
    }


_COLUMNS = (
    "feed_id",
    "entry_key",
    "url",
    "title",
    "author",
    "published_at",
    "updated_at",
    "first_seen_at",
    "language",
    "summary",
    "content_html",
    "tags",
    "enclosures",
)


# Ids per IN (...) list: under SQLite's and PostgreSQL's limits on bound parameters.
_ID_CHUNK = 900

# A cluster plan's writes, each run once over all its rows (Database.executemany): as
# one statement per story, a first pass's plan of thousands of stories cost more than
# planning it.
_SET_STORY = (
    update(entries)
    .where(entries.c.id == bindparam("plan_entry"))
    .values(story_id=bindparam("plan_story"))
)
_TOUCH_STORY = (
    update(stories)
    .where(stories.c.id == bindparam("plan_story"))
    .values(updated_at=bindparam("plan_now", type_=stories.c.updated_at.type))
)
# Enclosures filled in on rows stored before 0007, all of a feed's in one executemany:
# the first poll after the upgrade lists every entry of every feed once.
_FILL_ENCLOSURES = (
    update(entries)
    .where(entries.c.id == bindparam("fill_entry"))
    .values(enclosures=bindparam("fill_enclosures", type_=entries.c.enclosures.type))
)


@dataclass(frozen=True, slots=True)
class _Driver:
    """What a dialect's driver wants, worked out once per dialect.

    The queries every upsert runs go straight to the driver, the insert of new entries
    as one ``executemany``: SQLAlchemy's per-statement and per-row machinery cost more
    than SQLite itself (see ``bench/store.py``). Values still pass through the columns'
    own bind and result processors, so a row written here is byte for byte what
    SQLAlchemy would write (timestamps as SQLite stores them, tags and enclosures as
    JSON) and reads back the same, on either backend. The SQL holds placeholders only,
    never values.
    """

    mark: str
    insert_sql: str
    stamp: Callable[[datetime | None], Any]
    json: Callable[[list[Any]], Any]  # the JSON columns' (tags, enclosures) bind processor
    read_stamp: Callable[[Any], datetime | None]
    read_json: Callable[[Any], list[Any] | None]
    # ``json([])``: most entries have no tags and no enclosures, and a dump per row adds up
    empty_list: Any

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)


def _identity(value: Any) -> Any:
    return value


_DRIVERS: dict[tuple[str, str], _Driver] = {}


def _driver(dialect: Dialect) -> _Driver:
    # Keyed by backend and driver, not by the dialect object: every engine has its own.
    key = (dialect.name, dialect.driver)
    if key not in _DRIVERS:
        _DRIVERS[key] = _new_driver(dialect)
    return _DRIVERS[key]


def _new_driver(dialect: Dialect) -> _Driver:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    insert_sql = (
        f"INSERT INTO entries ({', '.join(_COLUMNS)}) VALUES ({', '.join(mark for _ in _COLUMNS)})"
    )
    stamp = entries.c.published_at.type.dialect_impl(dialect)
    # Both JSON columns serialize a list alike (none_as_null only matters for None).
    json = entries.c.tags.type.dialect_impl(dialect)
    bind_json = json.bind_processor(dialect) or _identity
    return _Driver(
        mark,
        insert_sql,
        stamp.bind_processor(dialect) or _identity,
        bind_json,
        stamp.result_processor(dialect, None) or _identity,
        json.result_processor(dialect, None) or _identity,
        bind_json([]),
    )


def _stored(entry: Entry, entry_id: int, feed_id: int, seen: datetime, feed_title: str) -> Entry:
    """``entry`` as just stored. Spelled out: ``dataclasses.replace`` walks the fields
    and reads each by name per call, a fifth of the Python time of a new entry's insert."""
    return Entry(
        entry_key=entry.entry_key,
        url=entry.url,
        title=entry.title,
        published=entry.published,
        feed_id=feed_id,
        updated=entry.updated,
        language=entry.language,
        summary=entry.summary,
        content_html=entry.content_html,
        author=entry.author,
        tags=entry.tags,
        enclosures=entry.enclosures,
        id=entry_id,
        story_id=entry.story_id,
        first_seen_at=seen,
        feed_title=feed_title,
    )


class EntryStamp(NamedTuple):
    """What changes when an entry's published form does (see :meth:`entry_stamps`)."""

    id: int
    updated_at: datetime | None
    story_id: int | None
    feed_title: str


class _Known(NamedTuple):
    """A stored entry, as much of it as an edit can change (plus its id)."""

    id: int
    entry_key: str
    url: str
    title: str
    author: str
    updated_at: datetime | None
    summary: str
    content_html: str
    tags: list[str] | None
    enclosures: list[dict[str, Any]] | None


# Built once: a statement built per call costs SQLAlchemy a coercion per value and a
# fresh cache key. (The queries run on every upsert are plain driver SQL; see _Driver.)
_TOUCH = (
    update(tombstones)
    .where(
        tombstones.c.feed_id == bindparam("feed"),
        tombstones.c.entry_key.in_(bindparam("keys", expanding=True)),
    )
    .values(last_listed_at=bindparam("listed"))
)


class EntryQueries:
    db: Database

    def upsert_entries(self, feed_id: int, batch: Sequence[Entry], *, now: datetime) -> list[Entry]:
        """Insert unseen entries, refresh changed ones; return only the new ones.

        The first-seen time and the story of a known entry never change, so an
        edited article does not come back as new in a digest; its ``updated_at``
        marks the edit. An entry whose guid changed while its link and content did
        not is the same article under a new identity: it is re-keyed, not duplicated.
        An entry retention pruned (a tombstone) is neither new nor stored again; its
        tombstone notes that the feed still lists it.
        """
        with self.db.write() as conn:
            fresh = self._upsert(conn, feed_id, batch, now)
            if not fresh:
                return []
            driver = _driver(conn.dialect)
            fresh_keys = [e.entry_key for e in fresh]
            # The ids come back in one query (executemany cannot return rows).
            inserted = conn.exec_driver_sql(
                "SELECT entries.id, entries.entry_key, feeds.title FROM entries"
                " JOIN feeds ON feeds.id = entries.feed_id"
                f" WHERE entries.feed_id = {driver.mark}"
                f" AND entries.entry_key IN ({driver.marks(len(fresh_keys))})",
                (feed_id, *fresh_keys),
            ).all()
        ids = {entry_key: entry_id for entry_id, entry_key, _ in inserted}
        title = inserted[0][2] if inserted else ""
        return [
            _stored(e, ids[e.entry_key], feed_id, now, title) for e in fresh if e.entry_key in ids
        ]

    def upsert_entries_counted(self, feed_id: int, batch: Sequence[Entry], *, now: datetime) -> int:
        """:meth:`upsert_entries`, answering only how many entries were new: a polling
        pass needs no more, and reading the new rows' ids back and copying each entry
        with its id was a tenth of storing a first pass."""
        with self.db.write() as conn:
            return len(self._upsert(conn, feed_id, batch, now))

    def _upsert(
        self, conn: Connection, feed_id: int, batch: Sequence[Entry], now: datetime
    ) -> list[Entry]:
        """The writes of :meth:`upsert_entries`; the new entries, in the batch's order."""
        if not batch:
            return []
        keys = [e.entry_key for e in batch]
        buried = self._touch_tombstones(conn, feed_id, keys, now)
        if buried:
            batch = [e for e in batch if e.entry_key not in buried]
            keys = [e.entry_key for e in batch]
            if not batch:
                return []
        known = self._known(conn, feed_id, keys)
        fresh: list[Entry] = []
        filled: list[dict[str, Any]] = []
        for entry in batch:
            row = known.get(entry.entry_key)
            if row is None:
                fresh.append(entry)
            elif _changed(row, entry):
                values = _entry_values(entry)
                values.pop("published_at")  # the original date stays; feeds re-date edits
                if values["updated_at"] is None or values["updated_at"] == row.updated_at:
                    values["updated_at"] = now  # edited without saying so: mark it
                conn.execute(update(entries).where(entries.c.id == row.id).values(**values))
                # Its story stays, but later entries must be compared with the new text.
                conn.execute(delete(entry_signatures).where(entry_signatures.c.entry_id == row.id))
            elif row.enclosures is None:  # stored before 0007: filled in, not an edit
                filled.append({"fill_entry": row.id, "fill_enclosures": enclosure_rows(entry)})
        if filled:
            self.db.executemany(conn, _FILL_ENCLOSURES, filled)
        if fresh:
            fresh = self._rekey_moved_guids(conn, feed_id, keys, fresh)
        if not fresh:
            return []
        driver = _driver(conn.dialect)
        seen = driver.stamp(now)
        rows = []
        for e in fresh:
            rows.append(
                (
                    feed_id,
                    e.entry_key,
                    e.url,
                    e.title,
                    e.author,
                    driver.stamp(e.published),
                    None if e.updated is None else driver.stamp(e.updated),
                    seen,
                    e.language,
                    e.summary,
                    e.content_html,
                    driver.json(list(e.tags)) if e.tags else driver.empty_list,
                    driver.json(enclosure_rows(e)) if e.enclosures else driver.empty_list,
                )
            )
        # One transaction and one executemany per feed, not a statement per entry.
        conn.exec_driver_sql(driver.insert_sql, rows)
        return fresh

    @staticmethod
    def _known(conn: Connection, feed_id: int, keys: Sequence[str]) -> dict[str, _Known]:
        """The stored versions of ``keys``: only the columns an edit can change, never
        published_at, first_seen_at or story_id, which an edit must not touch."""
        driver = _driver(conn.dialect)
        rows = conn.exec_driver_sql(
            "SELECT id, entry_key, url, title, author, updated_at, summary, content_html, tags,"
            f" enclosures FROM entries WHERE feed_id = {driver.mark}"
            f" AND entry_key IN ({driver.marks(len(keys))})",
            (feed_id, *keys),
        )
        read_stamp, read_json = driver.read_stamp, driver.read_json
        return {
            key: _Known(
                ident,
                key,
                url,
                title,
                author,
                read_stamp(at),
                summary,
                html,
                read_json(tags),
                read_json(enclosures),
            )
            for ident, key, url, title, author, at, summary, html, tags, enclosures in rows
        }

    @staticmethod
    def _touch_tombstones(
        conn: Connection, feed_id: int, keys: Sequence[str], now: datetime
    ) -> set[str]:
        """The keys among ``keys`` that retention pruned; the feed lists them still, as of now."""
        driver = _driver(conn.dialect)
        buried = {
            key
            for (key,) in conn.exec_driver_sql(
                f"SELECT entry_key FROM tombstones WHERE feed_id = {driver.mark}"
                f" AND entry_key IN ({driver.marks(len(keys))})",
                (feed_id, *keys),
            )
        }
        if buried:
            conn.execute(_TOUCH, {"feed": feed_id, "keys": list(buried), "listed": now})
        return buried

    @staticmethod
    def _rekey_moved_guids(
        conn: Connection, feed_id: int, keys: Sequence[str], fresh: list[Entry]
    ) -> list[Entry]:
        """Unknown keys whose link and content match a stored entry: same article, new guid.

        The stored entry takes the new key (so the next fetch matches it directly);
        what is left is truly new.
        """
        by_url = {entry.url: entry for entry in fresh if entry.url}
        if not by_url:
            return fresh
        driver = _driver(conn.dialect)
        rows = conn.exec_driver_sql(
            "SELECT id, url, title, content_html FROM entries"
            f" WHERE feed_id = {driver.mark} AND url IN ({driver.marks(len(by_url))})"
            f" AND entry_key NOT IN ({driver.marks(len(keys))})",
            (feed_id, *by_url, *keys),
        ).all()
        moved: set[str] = set()
        for row in rows:
            entry = by_url.get(row.url)
            if entry is None or entry.entry_key in moved:
                continue
            same = (row.content_html == entry.content_html and row.content_html) or (
                not entry.content_html and row.title == entry.title
            )
            if same:
                conn.execute(
                    update(entries).where(entries.c.id == row.id).values(entry_key=entry.entry_key)
                )
                moved.add(entry.entry_key)
        return [entry for entry in fresh if entry.entry_key not in moved]

    def prune_entries(
        self, *, now: datetime, older_than: datetime | None, tombstones_before: datetime
    ) -> PruneReport:
        """Retention, in one transaction: old entries become tombstones, empty stories go.

        An entry is old when it was *first seen* before ``older_than`` (our own clock,
        as Miniflux counts from when it stored an entry: a feed's published dates can be
        missing, clamped or years old). ``None`` keeps every entry. An old entry is kept
        while a digest issue references it: its story is named in an issue created at or
        after ``older_than``, or in an issue with a delivery still pending or sending.
        Issues are frozen snapshots and never need the rows to render, so this is not
        about the email: it keeps a story that was just mailed whole on the web and for
        clustering for as long as the issue itself is recent.

        Each pruned entry leaves a tombstone (see :meth:`upsert_entries`). Stories left
        without entries are deleted (those emptied by a removed feed too). Tombstones
        whose item no fetch has listed since ``tombstones_before`` are deleted: the feed
        dropped the item, so if it ever lists it again it is news again.
        """
        with self.db.write() as conn:
            expired = conn.execute(
                delete(tombstones).where(tombstones.c.last_listed_at < tombstones_before)
            ).rowcount
            if older_than is None:
                return PruneReport(tombstones_expired=int(expired))
            kept = self._stories_in_recent_issues(conn, older_than)
            old = entries.c.first_seen_at < older_than
            if kept:
                old = old & (entries.c.story_id.is_(None) | entries.c.story_id.not_in(kept))
            stamp = literal(now, UTCDateTime())
            conn.execute(
                insert(tombstones).from_select(
                    ["feed_id", "entry_key", "url", "pruned_at", "last_listed_at"],
                    select(entries.c.feed_id, entries.c.entry_key, entries.c.url, stamp, stamp)
                    .where(old)
                    # Cannot happen while upsert skips tombstoned keys; cheap to be sure.
                    .where(
                        ~exists().where(
                            tombstones.c.feed_id == entries.c.feed_id,
                            tombstones.c.entry_key == entries.c.entry_key,
                        )
                    ),
                )
            )
            pruned = conn.execute(delete(entries).where(old)).rowcount
            empty = conn.execute(
                delete(stories).where(~exists().where(entries.c.story_id == stories.c.id))
            ).rowcount
        return PruneReport(entries=int(pruned), stories=int(empty), tombstones_expired=int(expired))

    @staticmethod
    def _stories_in_recent_issues(conn: Connection, since: datetime) -> list[int]:
        in_flight = select(deliveries.c.issue_id).where(
            deliveries.c.state.in_([DeliveryState.PENDING.value, DeliveryState.SENDING.value])
        )
        contents = conn.execute(
            select(digest_issues.c.content).where(
                (digest_issues.c.created_at >= since) | digest_issues.c.id.in_(in_flight)
            )
        ).scalars()
        return sorted({story["story_id"] for content in contents for story in content["stories"]})

    def known_urls(self, feed_id: int, urls: Sequence[str], *, now: datetime) -> set[str]:
        """Which of ``urls`` are the link of an entry of this feed, or of one pruned.

        A page source asks before fetching articles: a pruned article its index page
        still links to is not fetched again, and its tombstone notes it is still listed.
        """
        if not urls:
            return set()
        with self.db.read() as conn:
            stored = set(
                conn.execute(
                    select(entries.c.url).where(
                        entries.c.feed_id == feed_id, entries.c.url.in_(urls)
                    )
                ).scalars()
            )
            buried = set(
                conn.execute(
                    select(tombstones.c.url).where(
                        tombstones.c.feed_id == feed_id, tombstones.c.url.in_(urls)
                    )
                ).scalars()
            )
        if buried:
            with self.db.write() as conn:
                conn.execute(
                    update(tombstones)
                    .where(tombstones.c.feed_id == feed_id, tombstones.c.url.in_(buried))
                    .values(last_listed_at=now)
                )
        return stored | buried

    def list_entries(
        self,
        *,
        limit: int = 50,
        feed_id: int | None = None,
        feed_ids: Sequence[int] | None = None,
        offset: int = 0,
    ) -> list[Entry]:
        """Entries newest first; ``feed_ids`` keeps those of the given feeds (a tag's),
        ``offset`` skips the newest (a feed's later pages)."""
        query = _entry_select().order_by(entries.c.published_at.desc(), entries.c.id.desc())
        if feed_id is not None:
            query = query.where(entries.c.feed_id == feed_id)
        if feed_ids is not None:
            query = query.where(entries.c.feed_id.in_(list(feed_ids)))
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query.limit(limit).offset(offset))]

    def count_entries(self, *, feed_ids: Sequence[int] | None = None) -> int:
        query = select(func.count()).select_from(entries)
        if feed_ids is not None:
            query = query.where(entries.c.feed_id.in_(list(feed_ids)))
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def count_stories(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(stories)).scalar_one())

    def content_version(self) -> tuple[Any, ...]:
        """A cheap value that changes whenever what we publish changes: one query of
        counts and maxima, no row read. An entry edit always moves its ``updated_at``
        (see :meth:`upsert_entries`), a story that gains a source its ``updated_at``, a
        prune the counts, a new issue the issues' maximum id. Feed titles and tags are
        read whole: a handful of rows, and a config change must show on the site."""
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    select(func.count()).select_from(entries).scalar_subquery(),
                    select(func.max(entries.c.id)).scalar_subquery(),
                    select(func.max(entries.c.updated_at)).scalar_subquery(),
                    select(func.count()).select_from(stories).scalar_subquery(),
                    select(func.max(stories.c.updated_at)).scalar_subquery(),
                    select(func.max(digest_issues.c.id)).scalar_subquery(),
                    select(func.count()).select_from(digest_issues).scalar_subquery(),
                )
            ).one()
            labels = tuple(
                (r.id, r.title, tuple(r.tags or ()))
                for r in conn.execute(select(feeds.c.id, feeds.c.title, feeds.c.tags))
            )
        return (*row, hash(labels))

    def entry_stamps(
        self, *, limit: int, offset: int = 0, feed_ids: Sequence[int] | None = None
    ) -> list[EntryStamp]:
        """The entries :meth:`list_entries` would return, as what tells whether a copy
        made earlier is still current: id, ``updated_at`` (every edit moves it, see
        :meth:`upsert_entries`), story and feed title. No text column is read."""
        query = (
            select(
                entries.c.id,
                entries.c.updated_at,
                entries.c.story_id,
                func.coalesce(feeds.c.title, "").label("feed_title"),
            )
            .join(feeds, feeds.c.id == entries.c.feed_id)
            .order_by(entries.c.published_at.desc(), entries.c.id.desc())
        )
        if feed_ids is not None:
            query = query.where(entries.c.feed_id.in_(list(feed_ids)))
        with self.db.read() as conn:
            rows = conn.execute(query.limit(limit).offset(offset))
            return [EntryStamp(*row) for row in rows]

    def entries_by_id(self, ids: Sequence[int]) -> list[Entry]:
        if not ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute(_entry_select().where(entries.c.id.in_(list(ids))))
            return [row_to_entry(r) for r in rows]

    def story_links(self, story_ids: Sequence[int]) -> dict[int, list[tuple[int, str, str]]]:
        """Each story's entries as (id, url, feed title), oldest first: its sources' links."""
        if not story_ids:
            return {}
        query = (
            select(entries.c.story_id, entries.c.id, entries.c.url, feeds.c.title)
            .join(feeds, feeds.c.id == entries.c.feed_id)
            .where(entries.c.story_id.in_(sorted(set(story_ids))))
            .order_by(entries.c.id)
        )
        grouped: dict[int, list[tuple[int, str, str]]] = {}
        with self.db.read() as conn:
            for story_id, entry_id, url, title in conn.execute(query):
                grouped.setdefault(story_id, []).append((entry_id, url, title or ""))
        return grouped

    def unclustered_entries(self, *, limit: int = 5000, after: Entry | None = None) -> list[Entry]:
        """The oldest entries without a story (published order, then id), as clustering
        reads them (without their content); ``after``: those that come after that entry,
        the batch after the one it ends (read ahead while that one is planned)."""
        query = (
            _candidate_select()
            .where(entries.c.story_id.is_(None))
            .order_by(entries.c.published_at, entries.c.id)
        )
        if after is not None:
            query = query.where(
                or_(
                    entries.c.published_at > after.published,
                    and_(entries.c.published_at == after.published, entries.c.id > after.id),
                )
            )
        with self.db.read() as conn:
            return [row_to_entry(r) for r in conn.execute(query.limit(limit))]

    def clustered_stories_since(self, since: datetime) -> dict[int, int]:
        """The story of each entry in a story and published after ``since``: what a
        standing clusterer checks its memory against (ids only, no rows to build)."""
        query = select(entries.c.id, entries.c.story_id).where(
            entries.c.story_id.is_not(None), entries.c.published_at >= since
        )
        with self.db.read() as conn:
            return {int(i): int(story) for i, story in conn.execute(query)}

    def candidate_entries(self, ids: Sequence[int]) -> list[Entry]:
        """The entries of ``ids`` as clustering reads candidates (without content)."""
        found: list[Entry] = []
        with self.db.read() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = list(ids[start : start + _ID_CHUNK])
                query = _candidate_select().where(entries.c.id.in_(chunk))
                found += [row_to_entry(r) for r in conn.execute(query)]
        return found

    def entry_signatures(self, ids: Sequence[int]) -> dict[int, EntrySignature]:
        """The stored clustering signatures of those of ``ids`` that have one."""
        found: dict[int, EntrySignature] = {}
        with self.db.read() as conn:
            for start in range(0, len(ids), _ID_CHUNK):
                chunk = list(ids[start : start + _ID_CHUNK])
                query = select(entry_signatures).where(entry_signatures.c.entry_id.in_(chunk))
                for row in conn.execute(query):
                    found[row.entry_id] = EntrySignature(row.version, bytes(row.data))
        return found

    def apply_cluster_plan(self, plan: ClusterPlan, *, now: datetime) -> list[int]:
        """Create the plan's new stories, attach entries and keep the new signatures, in
        one transaction; returns the new stories' ids, in the plan's order."""
        created: list[int] = []
        with self.db.write() as conn:
            if plan.signatures:
                ids = list(plan.signatures)
                for start in range(0, len(ids), _ID_CHUNK):
                    chunk = ids[start : start + _ID_CHUNK]
                    conn.execute(
                        delete(entry_signatures).where(entry_signatures.c.entry_id.in_(chunk))
                    )
                conn.execute(
                    insert(entry_signatures),
                    [
                        {"entry_id": i, "version": s.version, "data": s.data}
                        for i, s in plan.signatures.items()
                    ],
                )
            if plan.new_stories:
                # One multi-row INSERT ... RETURNING, its ids in the order of the rows.
                made = conn.execute(
                    insert(stories).returning(stories.c.id, sort_by_parameter_order=True),
                    [
                        {"title": group.title, "created_at": now, "updated_at": now}
                        for group in plan.new_stories
                    ],
                )
                created = [int(story_id) for (story_id,) in made]
            placed = [
                {"plan_entry": entry_id, "plan_story": story_id}
                for story_id, entry_ids in [
                    *plan.joins.items(),
                    *((s, g.entry_ids) for s, g in zip(created, plan.new_stories, strict=True)),
                ]
                for entry_id in entry_ids
            ]
            if placed:
                self.db.executemany(conn, _SET_STORY, placed)
            if plan.joins:
                touched = [{"plan_story": story_id, "plan_now": now} for story_id in plan.joins]
                self.db.executemany(conn, _TOUCH_STORY, touched)
        return created

    def list_stories(
        self,
        *,
        limit: int = 50,
        seen_after: datetime | None = None,
        seen_until: datetime | None = None,
        tags: Sequence[str] = (),
        offset: int = 0,
        story_id: int | None = None,
    ) -> list[Story]:
        """Stories, most recently updated first, each with all its entries (lead first).

        With ``seen_after``/``seen_until`` only stories with an entry first seen in
        that window; with ``tags`` only entries of feeds carrying one of the tags.
        ``offset`` skips the most recently updated (later pages of a feed); ``story_id``
        asks for that one story.
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
                    .offset(offset)
                )
                if story_id is not None:
                    newest = select(stories.c.id).where(stories.c.id == story_id)
                query = query.where(entries.c.story_id.in_(newest.scalar_subquery()))
            rows = [row_to_entry(r) for r in conn.execute(query.order_by(entries.c.id))]
            feed_tags = {
                r.id: set(r.tags or ()) for r in conn.execute(select(feeds.c.id, feeds.c.tags))
            }
            wanted_ids = sorted({r.story_id for r in rows if r.story_id is not None})
            story_rows = {
                r.id: r for r in conn.execute(select(stories).where(stories.c.id.in_(wanted_ids)))
            }
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
