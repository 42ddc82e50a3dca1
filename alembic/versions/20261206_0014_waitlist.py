"""the waitlist after sell-out: how long a unit that came back is held for the next waitlister

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("waitlist_hold_minutes", sa.Integer(), nullable=False, server_default="10"))


def downgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("waitlist_hold_minutes")
