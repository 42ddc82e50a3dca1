"""waiting room settings on drops

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("waiting_room", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("prequeue_minutes", sa.Integer(), nullable=False, server_default="15"))
        batch.add_column(sa.Column("admit_per_second", sa.Integer(), nullable=False, server_default="50"))
        batch.add_column(sa.Column("challenge", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("challenge")
        batch.drop_column("admit_per_second")
        batch.drop_column("prequeue_minutes")
        batch.drop_column("waiting_room")
