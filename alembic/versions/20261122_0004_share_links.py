"""share links

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Keyed by order id, with no foreign key to orders: the sink writes the order row
    # asynchronously, possibly a few ms after the pay request that writes this one.
    op.create_table(
        "share_links",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        _ts("ordered_at"),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("show_name", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_share_links_token", "share_links", ["token"], unique=True)
    op.create_index("ix_share_links_user_id", "share_links", ["user_id"])


def downgrade() -> None:
    op.drop_table("share_links")
