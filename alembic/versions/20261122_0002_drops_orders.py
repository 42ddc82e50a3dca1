"""drops and orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "drops",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        _ts("priority_starts_at"),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("per_user_limit", sa.Integer(), nullable=False),
        sa.Column("pay_window_seconds", sa.Integer(), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_drops_sku", "drops", ["sku"])
    op.create_index("ix_drops_starts_at", "drops", ["starts_at"])
    op.create_index("ix_drops_ends_at", "drops", ["ends_at"])
    op.create_table(
        "orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("created_at"),
        _ts("pay_by"),
        _ts("paid_at", nullable=True),
        _ts("ended_at", nullable=True),
        sa.Column("payment_ref", sa.String(128), nullable=True),
        sa.Column("fcode_hash", sa.String(64), nullable=True),
        sa.Column("ref_token", sa.String(64), nullable=True),
    )
    op.create_index("ix_orders_drop_id", "orders", ["drop_id"])
    op.create_index("ix_orders_user_created", "orders", ["user_id", "created_at"])
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_ref_token", "orders", ["ref_token"])


def downgrade() -> None:
    op.drop_table("orders")
    op.drop_table("drops")
