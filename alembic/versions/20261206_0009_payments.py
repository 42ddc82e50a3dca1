"""asynchronous payments: the order's payment, provider notices, bulk refunds

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("payment_provider", sa.String(16), nullable=True))
        batch.add_column(sa.Column("payment_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("payment_intent", sa.String(128), nullable=True))
        batch.add_column(sa.Column("payment_client", sa.Text(), nullable=True))
        batch.add_column(sa.Column("payment_attempt", sa.Integer(), nullable=True))
        batch.create_index("ix_orders_payment_intent", ["payment_intent"])
    op.create_table(
        "payment_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(128), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),
    )
    op.create_index("ix_payment_events_order_id", "payment_events", ["order_id"])
    op.create_table(
        "refund_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("drop_id", sa.Integer(), sa.ForeignKey("drops.id"), nullable=False),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_refund_jobs_drop_id", "refund_jobs", ["drop_id"])


def downgrade() -> None:
    op.drop_table("refund_jobs")
    op.drop_table("payment_events")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_payment_intent")
        batch.drop_column("payment_attempt")
        batch.drop_column("payment_client")
        batch.drop_column("payment_intent")
        batch.drop_column("payment_status")
        batch.drop_column("payment_provider")
