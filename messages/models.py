"""The outbox's tables: a message per event and recipient, a delivery per channel; reminders, push
subscriptions and each recipient's language and email opt-out."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Message(SQLModel, table=True):
    """One message to one account, once per event: `key` names the event (e.g. drop_open:7:42), so
    writing it again (a redelivered stream entry, a second scheduler) changes nothing."""

    __tablename__ = "messages"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    kind: str = Field(max_length=24)
    key: str = Field(max_length=160, unique=True)
    drop_id: int | None = Field(default=None, index=True)
    order_id: str | None = Field(default=None, max_length=64)
    params: str = Field(default="{}", sa_column=sa.Column(sa.Text(), nullable=False))  # JSON, for the text
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Delivery(SQLModel, table=True):
    """The outbox proper: a message's send by one channel, claimed by a sender with a lease
    (`lease_until`), retried at `due_at` with backoff, `failed` (a dead letter) after the last try."""

    __tablename__ = "message_deliveries"
    __table_args__ = (sa.UniqueConstraint("message_id", "channel", name="uq_message_deliveries_channel"),
                      sa.Index("ix_message_deliveries_due", "status", "due_at"))

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="messages.id")
    channel: str = Field(max_length=8)                 # email, push
    status: str = Field(default="pending", max_length=8)  # pending, sent, failed, skipped
    attempts: int = 0
    due_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    lease_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Reminder(SQLModel, table=True):
    """An account's wish to be told when a drop opens (预约), by the channels it chose."""

    __tablename__ = "reminders"
    __table_args__ = (sa.UniqueConstraint("user_id", "drop_id", name="uq_reminders_user_drop"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id")
    drop_id: int = Field(index=True)
    email: bool = False
    push: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class PushSubscription(SQLModel, table=True):
    """A browser's PushSubscription: where the service POSTs an encrypted message (RFC 8030/8291)."""

    __tablename__ = "push_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    endpoint: str = Field(max_length=1024, unique=True)
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Recipient(SQLModel, table=True):
    """What the sender needs to know of an account beyond its address: the language it used last,
    and whether it unsubscribed from email."""

    __tablename__ = "message_recipients"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    language: str = Field(default="en", max_length=8)
    email_off: bool = False
