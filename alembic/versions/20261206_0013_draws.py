"""draws: draw drops (mode, entry window, backups), the draw's seed and figures, entries, ranks

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("mode", sa.String(8), nullable=False, server_default="sale"))
        batch.add_column(_ts("entries_open_at", nullable=True))
        batch.add_column(_ts("entries_close_at", nullable=True))
        batch.add_column(sa.Column("backups", sa.Integer(), nullable=True))
    op.create_table(
        "draws",
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), primary_key=True),
        sa.Column("commitment", sa.String(64), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        _ts("drawn_at", nullable=True),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("backups", sa.Integer(), nullable=False),
        sa.Column("voided", sa.Integer(), nullable=False),
    )
    op.create_table(
        "draw_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("address", sa.String(32), nullable=False),
        sa.Column("variant", sa.String(64), nullable=True),
        _ts("created_at"),
        _ts("changed_at"),
        sa.UniqueConstraint("drop_id", "user_id", name="uq_draw_entries_user"),
    )
    op.create_index("ix_draw_entries_drop_id", "draw_entries", ["drop_id"])
    op.create_table(
        "draw_ranks",
        sa.Column("drop_id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        _ts("buy_until", nullable=True),
    )
    op.create_index("ix_draw_ranks_user", "draw_ranks", ["drop_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_draw_ranks_user", table_name="draw_ranks")
    op.drop_table("draw_ranks")
    op.drop_index("ix_draw_entries_drop_id", table_name="draw_entries")
    op.drop_table("draw_entries")
    op.drop_table("draws")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("backups")
        batch.drop_column("entries_close_at")
        batch.drop_column("entries_open_at")
        batch.drop_column("mode")
