"""drop pictures and store flags

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("image", sa.JSON(), nullable=True))
    # One row per thing done once for the whole store (the demo seed): the primary key makes a second
    # attempt fail, however many processes race.
    op.create_table(
        "store_flags",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_flags")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("image")
