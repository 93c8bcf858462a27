"""Initial schema: feeds, entries, stories, digests, issues, subscribers, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from aggregator.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _text(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.Text, nullable=False, server_default="")


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        _text("title"),
        _text("site_url"),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False, server_default="user"),
        _text("etag"),
        _text("last_modified"),
        sa.Column("next_check_at", UTCDateTime),
        sa.Column("last_checked_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        _text("last_error"),
        sa.Column("last_error_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_stories_updated_at", "stories", ["updated_at"])
    op.create_table(
        "entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("entry_key", sa.String(64), nullable=False),
        _text("url"),
        _text("title"),
        _text("author"),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("language", sa.String(16), nullable=False, server_default=""),
        _text("summary"),
        _text("content_html"),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("story_id", sa.Integer, sa.ForeignKey("stories.id", ondelete="SET NULL")),
        sa.UniqueConstraint("feed_id", "entry_key", name="uq_entries_feed_key"),
    )
    op.create_index("ix_entries_published_at", "entries", ["published_at"])
    op.create_index("ix_entries_first_seen_at", "entries", ["first_seen_at"])
    op.create_index("ix_entries_story_id", "entries", ["story_id"])
    op.create_table(
        "digests",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("last_run_at", UTCDateTime),
        sa.Column("next_run_at", UTCDateTime),
        sa.Column("last_window_end", UTCDateTime),
    )
    op.create_table(
        "digest_issues",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("window_start", UTCDateTime),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
    )
    op.create_index("ix_digest_issues_digest", "digest_issues", ["digest", "created_at"])
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("origin", sa.String(16), nullable=False, server_default="user"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("digest", "email", name="uq_subscribers_digest_email"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issue_id", sa.Integer, sa.ForeignKey("digest_issues.id"), nullable=False),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _text("last_error"),
        sa.Column("next_attempt_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.UniqueConstraint("issue_id", "subscriber_id", name="uq_deliveries_issue_subscriber"),
    )
    op.create_index("ix_deliveries_state", "deliveries", ["state"])


def downgrade() -> None:
    for table in (
        "deliveries",
        "subscribers",
        "digest_issues",
        "digests",
        "entries",
        "stories",
        "feeds",
    ):
        op.drop_table(table)
