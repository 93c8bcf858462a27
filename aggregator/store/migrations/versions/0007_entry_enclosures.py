"""Entry enclosures: the files an entry carries (podcast audio, video, pictures).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL on the rows stored so far: not "none" but "not read yet". Each is filled in
    # when its feed lists it again, without marking the entry updated (store.entries).
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("enclosures", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("enclosures")
