"""What the payments record in SQL beside the orders: every provider notice once, and bulk refunds."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class PaymentEvent(SQLModel, table=True):
    """A provider's notice, recorded once (by its id) before the provider is answered: the record of
    what the provider claimed, which reconcile reads and a rebuilt Redis can be mended from."""

    __tablename__ = "payment_events"
    __table_args__ = (sa.UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    event_id: str = Field(max_length=128)
    kind: str = Field(max_length=16)          # succeeded, failed, canceled, refunded
    intent: str = Field(max_length=128)
    order_id: str | None = Field(default=None, max_length=64, index=True)  # null: not one of ours
    outcome: str = Field(max_length=24)       # what applying it did (paid, refund_due, ignored, ...)
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class RefundJob(SQLModel, table=True):
    """An operator's bulk refund of a drop: worked through in the background, each order once (the
    provider's refund is keyed by the order), resumed after a crash until `finished_at` is set."""

    __tablename__ = "refund_jobs"

    id: int | None = Field(default=None, primary_key=True)
    drop_id: int = Field(foreign_key="drops.id", index=True)
    requested_by: int = Field(foreign_key="users.id")
    orders: int = 0                           # paid orders when it was asked
    refunded: int = 0
    failed: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
