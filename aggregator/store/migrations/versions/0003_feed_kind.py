"""Feed kind: "feed" (RSS, Atom, JSON Feed) or "page" (articles linked from a web page).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("kind", sa.String(8), nullable=False, server_default="feed"))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("kind")
