"""Feed polling state: gone feeds, pending permanent redirects, failure streaks, intervals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from aggregator.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(
            sa.Column("status", sa.String(16), nullable=False, server_default="active")
        )
        batch.add_column(sa.Column("moved_to", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("moved_count", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("failing_since", UTCDateTime))
        batch.add_column(sa.Column("interval_seconds", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        for column in ("interval_seconds", "failing_since", "moved_count", "moved_to", "status"):
            batch.drop_column(column)
