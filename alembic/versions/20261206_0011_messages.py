"""messages: the outbox (messages, deliveries), reminders, push subscriptions, recipients

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("drops") as batch:
        batch.add_column(sa.Column("reservation_only_minutes", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("key", sa.String(160), nullable=False),
        sa.Column("drop_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_messages_user_id", "messages", ["user_id"])
    op.create_index("ix_messages_drop_id", "messages", ["drop_id"])
    op.create_table(
        "message_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("due_at"),
        _ts("lease_until", nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        _ts("sent_at", nullable=True),
        sa.UniqueConstraint("message_id", "channel", name="uq_message_deliveries_channel"),
    )
    op.create_index("ix_message_deliveries_due", "message_deliveries", ["status", "due_at"])
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("drop_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column("push", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("user_id", "drop_id", name="uq_reminders_user_drop"),
    )
    op.create_index("ix_reminders_drop_id", "reminders", ["drop_id"])
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("endpoint", sa.String(1024), nullable=False),
        sa.Column("p256dh", sa.String(200), nullable=False),
        sa.Column("auth", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("endpoint"),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "message_recipients",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("email_off", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("message_recipients")
    op.drop_table("push_subscriptions")
    op.drop_table("reminders")
    op.drop_table("message_deliveries")
    op.drop_table("messages")
    with op.batch_alter_table("drops") as batch:
        batch.drop_column("reservation_only_minutes")
