"""Queries on digests, their frozen issues, subscribers and the delivery ledger.

An issue and its pending deliveries are written in one transaction, so a crash
can never leave an issue that some subscriber will silently not receive.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from aggregator.config import DigestSettings
from aggregator.errors import NotFoundError, TokenError
from aggregator.model import (
    Delivery,
    DeliveryOutcome,
    DeliveryState,
    DigestIssue,
    DigestState,
    IssueSource,
    IssueStory,
    SentStory,
    Subscriber,
)
from aggregator.store.database import Database, Writer
from aggregator.store.schema import (
    app_secrets,
    deliveries,
    digest_issues,
    digests,
    subscribers,
)


def _story_to_json(story: IssueStory) -> dict[str, Any]:
    return {
        "story_id": story.story_id,
        "headline": story.headline,
        "url": story.url,
        "summary": story.summary,
        "published": story.published.isoformat(),
        "sources": [
            {"feed_title": s.feed_title, "title": s.title, "url": s.url} for s in story.sources
        ],
        "follow_up_since": story.follow_up_since.isoformat() if story.follow_up_since else None,
        "earlier_sources": story.earlier_sources,
    }


def _story_from_json(data: dict[str, Any]) -> IssueStory:
    return IssueStory(
        story_id=data["story_id"],
        headline=data["headline"],
        url=data["url"],
        summary=data["summary"],
        published=datetime.fromisoformat(data["published"]),
        sources=tuple(IssueSource(**s) for s in data["sources"]),
        # Issues frozen before follow-ups existed have neither key.
        follow_up_since=_datetime_or_none(data.get("follow_up_since")),
        earlier_sources=data.get("earlier_sources", 0),
    )


def _datetime_or_none(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def row_to_issue(row: Any) -> DigestIssue:
    return DigestIssue(
        id=row.id,
        digest=row.digest,
        title=row.title,
        created_at=row.created_at,
        window_start=row.window_start,
        window_end=row.window_end,
        stories=tuple(_story_from_json(s) for s in row.content["stories"]),
    )


def row_to_delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        issue_id=row.issue_id,
        subscriber_id=row.subscriber_id,
        email=row.email,
        state=DeliveryState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=row.sent_at,
        next_attempt_at=row.next_attempt_at,
    )


def row_to_subscriber(row: Any) -> Subscriber:
    return Subscriber(id=row.id, digest=row.digest, email=row.email, active=row.active)


def _due(now: datetime | ColumnElement[Any]) -> ColumnElement[bool]:
    """A pending delivery whose time has come."""
    return (deliveries.c.state == DeliveryState.PENDING.value) & (
        deliveries.c.next_attempt_at.is_(None) | (deliveries.c.next_attempt_at <= now)
    )


# The statements a delivery pass runs once per claim and per group of outcomes, built
# once with their values as parameters: building a statement and finding its compiled
# form in SQLAlchemy's cache cost more client CPU than SQLite spends running it.
_NOW = bindparam("b_now", type_=deliveries.c.updated_at.type)
# A CTE, materialized: as a plain subquery PostgreSQL may run the LIMIT once per row it
# updates (and so claim every due row).
_PICKED = (
    select(deliveries.c.id)
    .where(_due(_NOW))
    .order_by(deliveries.c.id)
    .limit(bindparam("b_limit", type_=Integer))
    .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has no row locks
    .cte("picked")
    .prefix_with("MATERIALIZED", dialect="postgresql")
)
_CLAIM = (
    update(deliveries)
    .where(deliveries.c.id.in_(select(_PICKED.c.id)), _due(_NOW))
    .values(state=DeliveryState.SENDING.value, updated_at=_NOW, attempts=deliveries.c.attempts + 1)
    .returning(*deliveries.c)
)
_OUTCOME = {
    "state": bindparam("b_state"),
    "updated_at": _NOW,
    "last_error": bindparam("b_error"),
    "next_attempt_at": bindparam("b_next", type_=deliveries.c.next_attempt_at.type),
}
_BY_ID = deliveries.c.id == bindparam("b_id")
# One statement per shape: only a sent row gets its sent_at.
_RECORD_SENT = update(deliveries).where(_BY_ID).values(sent_at=_NOW, **_OUTCOME)
_RECORD_OTHER = update(deliveries).where(_BY_ID).values(**_OUTCOME)


class DeliveryLedger:
    """Claims and outcomes, each its own transaction, on one connection kept for a
    delivery pass (see :meth:`DigestQueries.delivery_ledger`)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def claim(self, *, now: datetime, limit: int) -> list[Delivery]:
        """Up to ``limit`` due pending deliveries, moved to ``sending`` (one more attempt)
        and stamped ``now`` in one statement; the rows as they are now, oldest first.

        Two senders never get the same row: SQLite runs one writer at a time, and on
        PostgreSQL the rows one claim picks are locked and skipped by the other (which
        takes the next ones instead of waiting), and both claims re-check the state.
        The stamp is the lease's start (see
        :meth:`DigestQueries.recover_interrupted_deliveries`), so a sender passes the time
        of each claim, not the start of a pass that may be long.
        """
        with self._writer.transaction() as conn:
            rows = conn.execute(_CLAIM, {"b_now": now, "b_limit": limit}).all()
        return sorted((row_to_delivery(r) for r in rows), key=lambda d: d.id)

    def record(self, outcomes: Sequence[DeliveryOutcome], *, now: datetime) -> None:
        """Write a batch of outcomes in one transaction: each row sent (``sent_at`` =
        ``now``), failed for good, or pending again from its ``next_attempt_at``."""
        if not outcomes:
            return
        sent: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for o in outcomes:
            (sent if o.state is DeliveryState.SENT else other).append(
                {
                    "b_id": o.delivery_id,
                    "b_state": o.state.value,
                    "b_error": o.error,
                    "b_next": o.next_attempt_at,
                    "b_now": now,
                }
            )
        with self._writer.transaction():
            if sent:
                self._writer.executemany(_RECORD_SENT, sent)
            if other:
                self._writer.executemany(_RECORD_OTHER, other)


class DigestQueries:
    db: Database

    # -- digest schedule state ------------------------------------------------

    def digest_state(self, name: str) -> DigestState:
        with self.db.read() as conn:
            row = conn.execute(select(digests).where(digests.c.name == name)).first()
        if row is None:
            return DigestState(name=name)
        return DigestState(
            name=name,
            last_run_at=row.last_run_at,
            next_run_at=row.next_run_at,
            last_window_end=row.last_window_end,
        )

    def set_next_run(self, name: str, next_run_at: datetime) -> None:
        with self.db.write() as conn:
            self._save_state(conn, name, next_run_at=next_run_at)

    @staticmethod
    def _save_state(conn: Connection, name: str, **values: Any) -> None:
        exists = conn.execute(select(digests.c.name).where(digests.c.name == name)).first()
        if exists:
            conn.execute(update(digests).where(digests.c.name == name).values(**values))
        else:
            conn.execute(insert(digests).values(name=name, **values))

    # -- issues ------------------------------------------------------------------

    def create_issue(
        self,
        *,
        digest: str,
        title: str,
        window_start: datetime | None,
        window_end: datetime,
        stories: Sequence[IssueStory],
        now: datetime,
        next_run_at: datetime,
    ) -> DigestIssue:
        """Freeze an issue, queue one delivery per active subscriber, advance the digest."""
        with self.db.write() as conn:
            issue_id = conn.execute(
                insert(digest_issues)
                .values(
                    digest=digest,
                    title=title,
                    created_at=now,
                    window_start=window_start,
                    window_end=window_end,
                    content={"stories": [_story_to_json(s) for s in stories]},
                )
                .returning(digest_issues.c.id)
            ).scalar_one()
            active = conn.execute(
                select(subscribers.c.id, subscribers.c.email)
                .where(subscribers.c.digest == digest, subscribers.c.active.is_(True))
                .order_by(subscribers.c.id)
            ).all()
            if active:
                conn.execute(
                    insert(deliveries),
                    [
                        {
                            "issue_id": issue_id,
                            "subscriber_id": s.id,
                            "email": s.email,
                            "state": DeliveryState.PENDING.value,
                            "updated_at": now,
                            "attempts": 0,
                            "last_error": "",
                        }
                        for s in active
                    ],
                )
            self._save_state(
                conn, digest, last_run_at=now, last_window_end=window_end, next_run_at=next_run_at
            )
            row = conn.execute(select(digest_issues).where(digest_issues.c.id == issue_id)).one()
        return row_to_issue(row)

    def sent_stories(
        self, digest: str, *, since: datetime, story_ids: Collection[int] | None = None
    ) -> dict[int, SentStory]:
        """The stories the digest's issues created since ``since`` carried: when each was
        first sent, and every source URL sent for it so far. With ``story_ids``, only
        those stories (the ones an issue being built could carry).

        The issues are read one at a time: an issue's frozen content holds every story it
        carried with its sources, and a month of frequent issues read at once made a
        transient peak that grew with every issue sent; what the long-lived daemon
        allocated meanwhile kept that peak's memory (bench/soak.py)."""
        wanted = None if story_ids is None else frozenset(story_ids)
        sent: dict[int, SentStory] = {}
        with self.db.read() as conn:
            rows = conn.execute(
                select(digest_issues.c.created_at, digest_issues.c.content)
                .where(digest_issues.c.digest == digest, digest_issues.c.created_at >= since)
                .order_by(digest_issues.c.created_at)
            )
            for row in rows:
                for story in row.content["stories"]:
                    story_id = story["story_id"]
                    if wanted is not None and story_id not in wanted:
                        continue
                    urls = frozenset(source["url"] for source in story["sources"])
                    earlier = sent.get(story_id)
                    sent[story_id] = (
                        SentStory(first_sent_at=row.created_at, urls=urls)
                        if earlier is None
                        else replace(earlier, urls=earlier.urls | urls)
                    )
        return sent

    def get_issue(self, issue_id: int) -> DigestIssue:
        with self.db.read() as conn:
            row = conn.execute(select(digest_issues).where(digest_issues.c.id == issue_id)).first()
        if row is None:
            raise NotFoundError(f"no digest issue with id {issue_id}")
        return row_to_issue(row)

    # -- subscribers -------------------------------------------------------------

    def add_subscriber(
        self, digest: str, email: str, *, now: datetime, origin: str = "user"
    ) -> tuple[Subscriber, bool]:
        """The subscriber, and whether this call subscribed them (new or reactivated)."""
        with self.db.write() as conn:
            return self._add_subscriber(conn, digest, email, now=now, origin=origin)

    @staticmethod
    def _add_subscriber(
        conn: Connection, digest: str, email: str, *, now: datetime, origin: str
    ) -> tuple[Subscriber, bool]:
        where = (subscribers.c.digest == digest, func.lower(subscribers.c.email) == email.lower())
        row = conn.execute(select(subscribers).where(*where)).first()
        # The config is re-read at every start: it must not undo a reader's own
        # unsubscribe. Only the list owner's explicit `subscribers add` does.
        if row is not None and origin == "config" and row.unsubscribed_at is not None:
            return row_to_subscriber(row), False
        changed = row is None or not row.active
        if row is None:
            conn.execute(
                insert(subscribers).values(
                    digest=digest, email=email, active=True, origin=origin, created_at=now
                )
            )
        elif not row.active:
            conn.execute(update(subscribers).where(subscribers.c.id == row.id).values(active=True))
        row = conn.execute(select(subscribers).where(*where)).one()
        return row_to_subscriber(row), changed

    def get_subscriber(self, subscriber_id: int) -> Subscriber:
        with self.db.read() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
        if row is None:
            raise NotFoundError("this subscription no longer exists")
        return row_to_subscriber(row)

    def request_subscription(
        self, digest: str, email: str, *, now: datetime, resend_after: timedelta
    ) -> tuple[Subscriber, bool]:
        """A web sign-up: the subscriber (inactive until confirmed), and whether a
        confirmation email should go out now (not for an active subscriber, and at most
        one per ``resend_after``, so the form cannot be used to flood an inbox)."""
        where = (subscribers.c.digest == digest, func.lower(subscribers.c.email) == email.lower())
        with self.db.write() as conn:
            row = conn.execute(select(subscribers).where(*where)).first()
            if row is None:
                conn.execute(
                    insert(subscribers).values(
                        digest=digest,
                        email=email,
                        active=False,
                        origin="web",
                        created_at=now,
                        confirm_sent_at=now,
                    )
                )
                send = True
            elif row.active:
                send = False
            else:
                last = row.confirm_sent_at
                send = last is None or now - last >= resend_after
                if send:
                    conn.execute(
                        update(subscribers)
                        .where(subscribers.c.id == row.id)
                        .values(confirm_sent_at=now)
                    )
            row = conn.execute(select(subscribers).where(*where)).one()
        return row_to_subscriber(row), send

    def forget_confirmation_sent(self, subscriber_id: int) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(confirm_sent_at=None)
            )

    def confirm_subscriber(
        self, subscriber_id: int, *, issued: datetime, now: datetime
    ) -> Subscriber:
        """Activate a subscriber from a confirmation link issued at ``issued``."""
        with self.db.write() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            if row is None:
                raise NotFoundError("this subscription no longer exists")
            if row.unsubscribed_at is not None and issued < row.unsubscribed_at:
                raise TokenError(
                    "this confirmation link is older than your unsubscribe; subscribe again"
                )
            if not row.active:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == subscriber_id)
                    .values(active=True, confirmed_at=now)
                )
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).one()
        return row_to_subscriber(row)

    def unsubscribe(self, subscriber_id: int, *, now: datetime) -> Subscriber:
        """Unsubscribe at once (idempotent: mail clients may post twice)."""
        with self.db.write() as conn:
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
            if row is None:
                raise NotFoundError("this subscription no longer exists")
            if row.active:
                self._deactivate(conn, subscriber_id, now=now)
        return replace(row_to_subscriber(row), active=False)

    @staticmethod
    def _deactivate(conn: Connection, subscriber_id: int, *, now: datetime) -> None:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == subscriber_id)
            .values(active=False, unsubscribed_at=now)
        )
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.subscriber_id == subscriber_id,
                deliveries.c.state == DeliveryState.PENDING.value,
            )
            .values(state=DeliveryState.FAILED.value, last_error="unsubscribed", updated_at=now)
        )

    def app_secret(self, name: str, *, now: datetime) -> str:
        """A secret the program keeps: made at random on first use, the same ever after."""
        with self.db.read() as conn:
            value = conn.execute(
                select(app_secrets.c.value).where(app_secrets.c.name == name)
            ).scalar()
        if value is not None:
            return str(value)
        try:
            with self.db.write() as conn:
                conn.execute(
                    insert(app_secrets).values(
                        name=name,
                        value=secrets.token_urlsafe(32),
                        created_at=now,
                    )
                )
        except IntegrityError:
            pass  # another process made it first; theirs is the one
        with self.db.read() as conn:
            return str(
                conn.execute(
                    select(app_secrets.c.value).where(app_secrets.c.name == name)
                ).scalar_one()
            )

    def remove_subscriber(self, digest: str, email: str, *, now: datetime) -> None:
        """Unsubscribe at once: pending deliveries to them are cancelled too."""
        with self.db.write() as conn:
            row = conn.execute(
                select(subscribers).where(
                    subscribers.c.digest == digest,
                    func.lower(subscribers.c.email) == email.lower(),
                    subscribers.c.active.is_(True),
                )
            ).first()
            if row is None:
                raise NotFoundError(f"{email} is not subscribed to digest {digest!r}")
            self._deactivate(conn, row.id, now=now)

    def list_subscribers(self, digest: str | None = None) -> list[Subscriber]:
        query = (
            select(subscribers)
            .where(subscribers.c.active.is_(True))
            .order_by(subscribers.c.digest, subscribers.c.email)
        )
        if digest is not None:
            query = query.where(subscribers.c.digest == digest)
        with self.db.read() as conn:
            return [row_to_subscriber(r) for r in conn.execute(query)]

    def sync_config_subscribers(
        self, configured: Sequence[DigestSettings], *, now: datetime
    ) -> None:
        """Subscribe the config's addresses; drop config addresses no longer listed."""
        wanted = {(d.name, email.lower()) for d in configured for email in d.subscribers}
        with self.db.write() as conn:
            for digest in configured:
                for email in digest.subscribers:
                    self._add_subscriber(conn, digest.name, email, now=now, origin="config")
            rows = conn.execute(
                select(subscribers).where(
                    subscribers.c.origin == "config", subscribers.c.active.is_(True)
                )
            ).all()
            stale = [r.id for r in rows if (r.digest, r.email.lower()) not in wanted]
            if stale:
                conn.execute(
                    update(subscribers).where(subscribers.c.id.in_(stale)).values(active=False)
                )

    # -- delivery ledger ---------------------------------------------------------

    def due_deliveries(self, now: datetime, *, limit: int = 500) -> list[Delivery]:
        query = (
            select(deliveries)
            .where(
                deliveries.c.state == DeliveryState.PENDING.value,
                (deliveries.c.next_attempt_at.is_(None)) | (deliveries.c.next_attempt_at <= now),
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [row_to_delivery(r) for r in conn.execute(query)]

    @contextmanager
    def delivery_ledger(self) -> Iterator[DeliveryLedger]:
        """The ledger's per-message statements on one connection, for a delivery pass."""
        with self.db.writer() as writer:
            yield DeliveryLedger(writer)

    def claim_deliveries(self, *, now: datetime, limit: int) -> list[Delivery]:
        """See :meth:`DeliveryLedger.claim`."""
        with self.delivery_ledger() as ledger:
            return ledger.claim(now=now, limit=limit)

    def unclaim_deliveries(
        self,
        delivery_ids: Sequence[int],
        *,
        now: datetime,
        until: datetime | None = None,
        error: str | None = None,
    ) -> int:
        """Claimed deliveries that were not tried go back to ``pending`` with the attempt
        their claim counted given back; with ``until``, they wait until then (and say
        why in ``error``). Rows no longer ``sending`` are left alone."""
        if not delivery_ids:
            return 0
        values: dict[str, Any] = {
            "state": DeliveryState.PENDING.value,
            "updated_at": now,
            "attempts": deliveries.c.attempts - 1,
        }
        if until is not None:
            values["next_attempt_at"] = until
        if error is not None:
            values["last_error"] = error
        with self.db.write() as conn:
            result = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id.in_(list(delivery_ids)),
                    deliveries.c.state == DeliveryState.SENDING.value,
                )
                .values(**values)
            )
            return int(result.rowcount)

    def record_deliveries(self, outcomes: Sequence[DeliveryOutcome], *, now: datetime) -> None:
        """See :meth:`DeliveryLedger.record`."""
        with self.delivery_ledger() as ledger:
            ledger.record(outcomes, now=now)

    def mark_delivery(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        error: str = "",
        next_attempt_at: datetime | None = None,
    ) -> None:
        """Record one outcome (see :meth:`record_deliveries`)."""
        outcome = DeliveryOutcome(
            delivery_id=delivery_id, state=state, error=error, next_attempt_at=next_attempt_at
        )
        self.record_deliveries([outcome], now=now)

    def recover_interrupted_deliveries(
        self, *, now: datetime, claimed_before: datetime | None = None
    ) -> int:
        """Deliveries left in ``sending`` by a crash go back to ``pending``.

        With ``claimed_before``, only those claimed before it: a sender still alive
        (another process) finishes its own within that lease. Maildir recognizes a
        message it already wrote, so recovery cannot duplicate there; over SMTP a
        message whose transaction was cut off after DATA, before our commit, goes
        again with the same Message-ID, the one duplicate a mail client folds.
        """
        where = [deliveries.c.state == DeliveryState.SENDING.value]
        if claimed_before is not None:
            where.append(deliveries.c.updated_at < claimed_before)
        with self.db.write() as conn:
            result = conn.execute(
                update(deliveries)
                .where(*where)
                .values(state=DeliveryState.PENDING.value, updated_at=now)
            )
            return int(result.rowcount)

    def defer_due_deliveries(self, *, now: datetime, until: datetime, error: str) -> int:
        """Every pending delivery due by ``now`` waits until ``until`` (the transport is
        down: no attempt used)."""
        with self.db.write() as conn:
            result = conn.execute(
                update(deliveries)
                .where(_due(now))
                .values(next_attempt_at=until, last_error=error, updated_at=now)
            )
            return int(result.rowcount)

    def latest_issue(self, digest: str) -> DigestIssue | None:
        """The newest issue of ``digest``, or None before its first."""
        with self.db.read() as conn:
            row = conn.execute(
                select(digest_issues)
                .where(digest_issues.c.digest == digest)
                .order_by(digest_issues.c.created_at.desc(), digest_issues.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else row_to_issue(row)

    def list_issues(self, digest: str, *, limit: int = 50, offset: int = 0) -> list[DigestIssue]:
        """The digest's issues, newest first: its archive page and its feed."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(digest_issues)
                .where(digest_issues.c.digest == digest)
                .order_by(digest_issues.c.created_at.desc(), digest_issues.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [row_to_issue(r) for r in rows]

    def count_issues(self, digest: str) -> int:
        with self.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(digest_issues)
                    .where(digest_issues.c.digest == digest)
                ).scalar_one()
            )

    def issue_deliveries(self, issue_id: int) -> list[Delivery]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.issue_id == issue_id)
                .order_by(deliveries.c.state, deliveries.c.email)
            )
            return [row_to_delivery(r) for r in rows]

    def delivery_counts(self, issue_id: int | None = None) -> dict[str, int]:
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        if issue_id is not None:
            query = query.where(deliveries.c.issue_id == issue_id)
        with self.db.read() as conn:
            return {state: int(count) for state, count in conn.execute(query)}
