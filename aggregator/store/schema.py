"""The tables, as SQLAlchemy Core objects; the migrations create exactly these (a test
compares the two), and a new, empty database is created from them in one step.

Timestamps are stored in UTC and always come back timezone-aware
(:class:`UTCDateTime`), on SQLite as on PostgreSQL. Lists (tags) and frozen digest
content are JSON.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # defensive: SQLite rows written by hand
            value = datetime.fromisoformat(value)
        stamp: datetime = value
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


# The newest migration's revision: a database there needs no migration (and start-up need
# not load Alembic to learn it). A test checks it against the migrations folder.
SCHEMA_REVISION = "0007"

metadata = MetaData()

feeds = Table(
    "feeds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("title", Text, nullable=False, default="", server_default=""),
    Column("site_url", Text, nullable=False, default="", server_default=""),
    Column("tags", JSON, nullable=False, default=list),
    Column("origin", String(16), nullable=False, default="user", server_default="user"),
    Column("etag", Text, nullable=False, default="", server_default=""),
    Column("last_modified", Text, nullable=False, default="", server_default=""),
    Column("next_check_at", UTCDateTime),
    Column("last_checked_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("error_count", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text, nullable=False, default="", server_default=""),
    Column("last_error_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    # 0002: "active" or "gone" (410); a permanent redirect seen moved_count times in a row;
    # the start of the current failure streak; the adaptive polling interval.
    Column("status", String(16), nullable=False, default="active", server_default="active"),
    Column("moved_to", Text, nullable=False, default="", server_default=""),
    Column("moved_count", Integer, nullable=False, default=0, server_default="0"),
    Column("failing_since", UTCDateTime),
    Column("interval_seconds", Integer),
    # 0003: "feed", or "page" for a site without a feed, followed through its article links.
    Column("kind", String(8), nullable=False, default="feed", server_default="feed"),
)

stories = Table(
    "stories",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_stories_updated_at", "updated_at"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("entry_key", String(64), nullable=False),
    Column("url", Text, nullable=False, default="", server_default=""),
    Column("title", Text, nullable=False, default="", server_default=""),
    Column("author", Text, nullable=False, default="", server_default=""),
    Column("published_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("language", String(16), nullable=False, default="", server_default=""),
    Column("summary", Text, nullable=False, default="", server_default=""),
    Column("content_html", Text, nullable=False, default="", server_default=""),
    Column("tags", JSON, nullable=False, default=list),
    Column("story_id", Integer, ForeignKey("stories.id", ondelete="SET NULL")),
    # 0007: the files the entry carries, [{"url", "type", "length"}] (model.Enclosure).
    # NULL on rows stored before it: unknown, filled in when the feed lists them again.
    Column("enclosures", JSON(none_as_null=True)),
    UniqueConstraint("feed_id", "entry_key", name="uq_entries_feed_key"),
    Index("ix_entries_published_at", "published_at"),
    Index("ix_entries_first_seen_at", "first_seen_at"),
    Index("ix_entries_story_id", "story_id"),
)

# 0005: an entry's clustering features (aggregator.cluster.signature packs ``data``), so a
# clustering pass compares new entries with stored ones without reading their text again.
# ``version`` names the feature format; a row of another version is recomputed.
entry_signatures = Table(
    "entry_signatures",
    metadata,
    Column("entry_id", Integer, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# 0004: what retention pruned. An item its feed still lists is not new again, and
# last_listed_at (bumped whenever the feed lists it) lets the tombstone itself expire
# once the feed has dropped the item.
tombstones = Table(
    "tombstones",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("entry_key", String(64), nullable=False),
    Column("url", Text, nullable=False, default="", server_default=""),
    Column("pruned_at", UTCDateTime, nullable=False),
    Column("last_listed_at", UTCDateTime, nullable=False),
    UniqueConstraint("feed_id", "entry_key", name="uq_tombstones_feed_key"),
    Index("ix_tombstones_last_listed_at", "last_listed_at"),
)

digests = Table(
    "digests",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("last_run_at", UTCDateTime),
    Column("next_run_at", UTCDateTime),
    Column("last_window_end", UTCDateTime),
)

digest_issues = Table(
    "digest_issues",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("window_start", UTCDateTime),
    Column("window_end", UTCDateTime, nullable=False),
    Column("content", JSON, nullable=False),
    Index("ix_digest_issues_digest", "digest", "created_at"),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(200), nullable=False),
    Column("email", String(320), nullable=False),
    Column("active", Boolean, nullable=False, default=True, server_default=true()),
    Column("origin", String(16), nullable=False, default="user", server_default="user"),
    Column("created_at", UTCDateTime, nullable=False),
    # 0006: double opt-in and unsubscribe. A web sign-up stays inactive (nothing is sent)
    # until confirmed; confirm_sent_at throttles confirmation emails; a confirmation link
    # issued before unsubscribed_at cannot subscribe the address again.
    Column("confirmed_at", UTCDateTime),
    Column("confirm_sent_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    UniqueConstraint("digest", "email", name="uq_subscribers_digest_email"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("issue_id", Integer, ForeignKey("digest_issues.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text, nullable=False, default="", server_default=""),
    Column("next_attempt_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_subscriber"),
    Index("ix_deliveries_state", "state"),
)

# 0006: values the program generates once and keeps, such as the token-signing secret
# when AGGREGATOR_SECRET is not set.
app_secrets = Table(
    "app_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
