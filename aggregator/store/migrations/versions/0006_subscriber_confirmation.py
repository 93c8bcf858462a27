"""Subscriber confirmation (double opt-in), unsubscribe time, and stored secrets.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from aggregator.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("confirmed_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("confirm_sent_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("unsubscribed_at", UTCDateTime, nullable=True))
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("unsubscribed_at")
        batch.drop_column("confirm_sent_at")
        batch.drop_column("confirmed_at")
