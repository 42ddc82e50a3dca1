"""order refunds: a charge that outlived its payment lease is refunded, and the order says so

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("refund_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("refund_ref", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("refund_ref")
        batch.drop_column("refunded_at")
        batch.drop_column("refund_status")
