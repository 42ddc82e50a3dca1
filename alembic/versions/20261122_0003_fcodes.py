"""fcodes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "fcodes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("code_enc", sa.String(255), nullable=False),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("gifted_to_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        _ts("gift_until", nullable=True),
        _ts("expires_at"),
        _ts("created_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("owner_id", "month", "slot", name="uq_fcodes_owner_month_slot"),
    )
    op.create_index("ix_fcodes_code_hash", "fcodes", ["code_hash"], unique=True)
    op.create_index("ix_fcodes_owner_id", "fcodes", ["owner_id"])
    op.create_index("ix_fcodes_month", "fcodes", ["month"])


def downgrade() -> None:
    op.drop_index("ix_fcodes_month", table_name="fcodes")
    op.drop_index("ix_fcodes_owner_id", table_name="fcodes")
    op.drop_index("ix_fcodes_code_hash", table_name="fcodes")
    op.drop_table("fcodes")
