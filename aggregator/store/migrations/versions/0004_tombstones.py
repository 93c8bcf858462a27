"""Tombstones: entries pruned by retention, so an item still listed never comes back as new.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from aggregator.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tombstones",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("entry_key", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False, server_default=""),
        sa.Column("pruned_at", UTCDateTime, nullable=False),
        sa.Column("last_listed_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("feed_id", "entry_key", name="uq_tombstones_feed_key"),
    )
    op.create_index("ix_tombstones_last_listed_at", "tombstones", ["last_listed_at"])


def downgrade() -> None:
    op.drop_table("tombstones")
