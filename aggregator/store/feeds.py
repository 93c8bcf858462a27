"""Queries on the ``feeds`` table: subscriptions and their polling state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    update,
)

from aggregator.config import FeedSettings
from aggregator.errors import NotFoundError
from aggregator.model import Feed, UnchangedCheck
from aggregator.store.database import Database
from aggregator.store.schema import entries, feeds, tombstones

# Every successful poll, with or without a new document (a 304 brings no title): the
# feed's own title and site link fill in only what is still empty. A constant, so
# ``Writer.executemany`` compiles it once per database.
_EMPTY: ColumnElement[str] = literal_column("''")  # inline: a constant binds nothing per row


def _fill_in(column: Column[str], name: str) -> ColumnElement[str]:
    """``column`` as it is, or the parameter ``name`` where it is still empty."""
    return case((column == _EMPTY, bindparam(name, type_=column.type)), else_=column)


_RECORD_SUCCESS = (
    update(feeds)
    .where(feeds.c.id == bindparam("ok_feed_id"))
    .values(
        last_checked_at=bindparam("ok_now", type_=feeds.c.last_checked_at.type),
        last_success_at=bindparam("ok_now", type_=feeds.c.last_checked_at.type),
        next_check_at=bindparam("ok_next", type_=feeds.c.next_check_at.type),
        etag=bindparam("ok_etag"),
        last_modified=bindparam("ok_last_modified"),
        error_count=literal_column("0"),
        last_error=_EMPTY,
        failing_since=null(),
        interval_seconds=bindparam("ok_interval", type_=feeds.c.interval_seconds.type),
        title=_fill_in(feeds.c.title, "ok_title"),
        site_url=_fill_in(feeds.c.site_url, "ok_site"),
    )
)


def _success_row(
    feed_id: int,
    now: datetime,
    next_check_at: datetime,
    etag: str,
    last_modified: str,
    interval_seconds: int | None,
) -> dict[str, Any]:
    return {
        "ok_feed_id": feed_id,
        "ok_now": now,
        "ok_next": next_check_at,
        "ok_etag": etag,
        "ok_last_modified": last_modified,
        "ok_interval": interval_seconds,
        "ok_title": "",
        "ok_site": "",
    }


def row_to_feed(row: Any) -> Feed:
    return Feed(
        id=row.id,
        url=row.url,
        title=row.title,
        site_url=row.site_url,
        tags=tuple(row.tags or ()),
        etag=row.etag,
        last_modified=row.last_modified,
        next_check_at=row.next_check_at,
        last_checked_at=row.last_checked_at,
        last_success_at=row.last_success_at,
        error_count=row.error_count,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        status=row.status,
        moved_to=row.moved_to,
        moved_count=row.moved_count,
        failing_since=row.failing_since,
        interval_seconds=row.interval_seconds,
        kind=row.kind,
    )


def _config_changes(row: Any, setting: FeedSettings) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if row.origin != "config":
        changes["origin"] = "config"
    if list(row.tags or []) != list(setting.tags):
        changes["tags"] = list(setting.tags)
    if setting.title and row.title != setting.title:
        changes["title"] = setting.title
    return changes


class FeedQueries:
    db: Database

    def add_feed(
        self,
        url: str,
        *,
        now: datetime,
        title: str = "",
        tags: Sequence[str] = (),
        origin: str = "user",
        kind: str = "feed",
    ) -> tuple[Feed, bool]:
        """The feed for ``url``, and whether it was created by this call."""
        with self.db.write() as conn:
            row = conn.execute(select(feeds).where(feeds.c.url == url)).first()
            if row is not None:
                if row.status == "gone":  # adding a gone feed again means: try it again
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.id == row.id)
                        .values(status="active", next_check_at=None)
                    )
                    row = conn.execute(select(feeds).where(feeds.c.id == row.id)).one()
                return row_to_feed(row), False
            conn.execute(
                insert(feeds).values(
                    url=url, title=title, tags=list(tags), origin=origin, created_at=now, kind=kind
                )
            )
            created = conn.execute(select(feeds).where(feeds.c.url == url)).one()
        return row_to_feed(created), True

    def sync_config_feeds(self, configured: Sequence[FeedSettings], *, now: datetime) -> None:
        """Make the config's ``[[feeds]]`` the truth for feeds that came from the config."""
        wanted = {f.url: f for f in configured}
        with self.db.write() as conn:
            existing = {r.url: r for r in conn.execute(select(feeds))}
            new: list[dict[str, Any]] = []
            for url, setting in wanted.items():
                row = existing.get(url)
                if row is None:
                    new.append(
                        {
                            "url": url,
                            "title": setting.title,
                            "tags": list(setting.tags),
                            "origin": "config",
                            "created_at": now,
                        }
                    )
                else:
                    values = _config_changes(row, setting)
                    if values:
                        conn.execute(update(feeds).where(feeds.c.id == row.id).values(**values))
            if new:  # one executemany: a first start with hundreds of feeds waits on it
                conn.execute(insert(feeds), new)
            gone = [
                r.id for url, r in existing.items() if r.origin == "config" and url not in wanted
            ]
            if gone:
                conn.execute(delete(entries).where(entries.c.feed_id.in_(gone)))
                conn.execute(delete(feeds).where(feeds.c.id.in_(gone)))

    def list_feeds(self) -> list[Feed]:
        with self.db.read() as conn:
            return [row_to_feed(r) for r in conn.execute(select(feeds).order_by(feeds.c.id))]

    def get_feed(self, url_or_id: str) -> Feed:
        condition = feeds.c.url == url_or_id
        if url_or_id.isdigit():
            condition = or_(condition, feeds.c.id == int(url_or_id))
        with self.db.read() as conn:
            row = conn.execute(select(feeds).where(condition)).first()
        if row is None:
            raise NotFoundError(
                f"no feed with URL or id {url_or_id!r} (see `aggregator feeds list`)"
            )
        return row_to_feed(row)

    def remove_feed(self, url_or_id: str) -> Feed:
        feed = self.get_feed(url_or_id)
        with self.db.write() as conn:
            conn.execute(delete(entries).where(entries.c.feed_id == feed.id))
            conn.execute(delete(tombstones).where(tombstones.c.feed_id == feed.id))
            conn.execute(delete(feeds).where(feeds.c.id == feed.id))
        return feed

    def due_feeds(self, now: datetime, *, include_not_due: bool = False) -> list[Feed]:
        """Feeds to poll now (or all pollable ones); ingested files are never polled."""
        query = (
            select(feeds)
            .where(feeds.c.origin != "ingest", feeds.c.status != "gone")
            .order_by(func.coalesce(feeds.c.next_check_at, feeds.c.created_at), feeds.c.id)
        )
        if not include_not_due:
            query = query.where(or_(feeds.c.next_check_at.is_(None), feeds.c.next_check_at <= now))
        with self.db.read() as conn:
            return [row_to_feed(r) for r in conn.execute(query)]

    def record_fetch_success(
        self,
        feed_id: int,
        *,
        now: datetime,
        next_check_at: datetime,
        etag: str,
        last_modified: str,
        title: str = "",
        site_url: str = "",
        interval_seconds: int | None = None,
    ) -> None:
        """A successful poll; ``title`` and ``site_url`` (the feed's own) fill in only
        what is still empty, so a title the user gave stays."""
        row = _success_row(feed_id, now, next_check_at, etag, last_modified, interval_seconds)
        with self.db.write() as conn:
            self.db.executemany(
                conn, _RECORD_SUCCESS, [row | {"ok_title": title, "ok_site": site_url}]
            )

    def reschedule_feeds(self, moves: Sequence[tuple[int, datetime]]) -> None:
        """Set the next poll of several feeds (the daemon's catch-up after downtime)."""
        if not moves:
            return
        statement = (
            update(feeds)
            .where(feeds.c.id == bindparam("move_feed_id"))
            .values(next_check_at=bindparam("move_next_check_at"))
        )
        with self.db.write() as conn:
            conn.execute(
                statement,
                [{"move_feed_id": i, "move_next_check_at": at} for i, at in moves],
            )

    def record_unchanged_checks(self, checks: Sequence[UnchangedCheck], *, now: datetime) -> None:
        """Many 304s in one transaction: a pass over hundreds of unchanged feeds would
        otherwise spend more time committing than waiting on the network."""
        if not checks:
            return
        rows = [
            _success_row(
                c.feed_id, now, c.next_check_at, c.etag, c.last_modified, c.interval_seconds
            )
            for c in checks
        ]
        with self.db.write() as conn:
            self.db.executemany(conn, _RECORD_SUCCESS, rows)

    def record_fetch_error(
        self, feed_id: int, *, now: datetime, error: str, next_check_at: datetime
    ) -> None:
        """Count the failure; the feed's stored entries are never touched."""
        with self.db.write() as conn:
            conn.execute(
                update(feeds)
                .where(feeds.c.id == feed_id)
                .values(
                    last_checked_at=now,
                    next_check_at=next_check_at,
                    last_error=error,
                    last_error_at=now,
                    error_count=feeds.c.error_count + 1,
                    failing_since=func.coalesce(feeds.c.failing_since, now),
                )
            )

    def mark_feed_gone(self, feed_id: int, *, now: datetime, error: str) -> None:
        """410 Gone: stop polling; entries stay; ``feeds add`` of the URL tries again."""
        with self.db.write() as conn:
            conn.execute(
                update(feeds)
                .where(feeds.c.id == feed_id)
                .values(
                    status="gone",
                    next_check_at=None,
                    last_checked_at=now,
                    last_error=error,
                    last_error_at=now,
                    error_count=feeds.c.error_count + 1,
                    failing_since=func.coalesce(feeds.c.failing_since, now),
                )
            )

    def note_redirect(self, feed_id: int, target: str, *, confirmations: int) -> str:
        """Count a permanent redirect to ``target`` ("" when the fetch saw none).

        The stored URL changes only after ``confirmations`` fetches in a row were
        permanently redirected to the same place, so one flapping or hostile
        redirect cannot hijack a feed. Returns "none", "pending", "moved", or
        "conflict" (another feed already has the target URL; nothing changes).
        """
        with self.db.write() as conn:
            row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).one()
            if not target:
                if row.moved_count:
                    conn.execute(
                        update(feeds)
                        .where(feeds.c.id == feed_id)
                        .values(moved_to="", moved_count=0)
                    )
                return "none"
            count = row.moved_count + 1 if row.moved_to == target else 1
            if count < confirmations:
                conn.execute(
                    update(feeds)
                    .where(feeds.c.id == feed_id)
                    .values(moved_to=target, moved_count=count)
                )
                return "pending"
            taken = conn.execute(select(feeds.c.id).where(feeds.c.url == target)).first()
            values: dict[str, Any] = {"moved_to": "", "moved_count": 0}
            if taken is None:
                values["url"] = target
            conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))
            return "moved" if taken is None else "conflict"
