from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow

NOTICE_MAX_LENGTH = 500  # an operator's message shown on the drop and waiting room pages


class OrderStatus(StrEnum):
    reserved = "reserved"
    paid = "paid"
    expired = "expired"
    cancelled = "cancelled"
    refunded = "refunded"


def shown_status(live_status: str) -> str:
    """An order's status as clients and the record see it: "paying" (a payment running in Redis) is
    still "reserved" until the provider answered."""
    return OrderStatus.reserved.value if live_status == "paying" else live_status


def _ts(nullable: bool = False, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


def _flag() -> sa.Column[bool]:
    return sa.Column(sa.Boolean(), nullable=False, server_default=sa.false())


class Drop(SQLModel, table=True):
    __tablename__ = "drops"

    id: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, index=True)
    name: str = Field(max_length=200)
    price_cents: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    stock: int
    priority_starts_at: datetime = Field(sa_column=_ts())
    starts_at: datetime = Field(sa_column=_ts(index=True))
    ends_at: datetime = Field(sa_column=_ts(index=True))
    per_user_limit: int = 1
    pay_window_seconds: int = 1800
    # The waiting room: buyers join from starts_at - prequeue_minutes, get a shuffled place at
    # starts_at and are admitted admit_per_second at a time; challenge asks for proof of work to join.
    waiting_room: bool = Field(default=False, sa_column=_flag())
    prequeue_minutes: int = Field(default=15, sa_column=sa.Column(sa.Integer(), nullable=False,
                                                                   server_default="15"))
    admit_per_second: int = Field(default=50, sa_column=sa.Column(sa.Integer(), nullable=False,
                                                                   server_default="50"))
    challenge: bool = Field(default=False, sa_column=_flag())
    # For this many minutes from starts_at only accounts that set a reminder before starts_at may buy
    # or join the queue (issue 22).
    reservation_only_minutes: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False,
                                                                          server_default="0"))
    # A unit that comes back after sell-out is held this long for the next on the waitlist (issue 22).
    waitlist_hold_minutes: int = Field(default=10, sa_column=sa.Column(sa.Integer(), nullable=False,
                                                                        server_default="10"))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    # The product picture's stored variants (sale/images/store.py), null until one is uploaded.
    image: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Every product picture in order (the gallery), each as `image` is; `image` is the first one.
    pictures: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Paying needs a shipping address (422 address_required without one).
    shipping_required: bool = Field(default=False, sa_column=_flag())
    # The product's content: plain text (paragraphs split by blank lines; rendered as text, never
    # HTML) and a list of {"name", "value"} rows.
    description: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    specs: list[dict[str, str]] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Variants, each with its own stock ({"sku", "name", "stock", "price_cents"}); `stock` is their sum.
    variants: list[dict[str, Any]] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    # Operator controls (sale/admin/): the record of what the drop's Redis state holds live; the loader
    # restores them when Redis is rebuilt. A cancelled drop ended at cancelled_at.
    paused: bool = Field(default=False, sa_column=_flag())
    notice: str | None = Field(default=None, max_length=NOTICE_MAX_LENGTH)
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # Draws (sale/draw/): "sale" (first come, first served) or "draw" (entries in a window, then a draw at
    # starts_at that anyone can check); a draw's entry window and how many backups follow the winners.
    mode: str = Field(default="sale", sa_column=sa.Column(sa.String(8), nullable=False, server_default="sale"))
    entries_open_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    entries_close_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    backups: int | None = Field(default=None)


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_user_created", "user_id", "created_at"),  # a buyer's orders, newest first
        sa.Index("ix_orders_ref_token", "ref_token"),  # referred orders of a share link
        sa.Index("ix_orders_number", "number", unique=True),  # the buyer's order number, decided in Redis
        sa.Index("ix_orders_drop_created", "drop_id", "created_at"),  # a drop's orders in time (admin, CSV)
    )

    id: str = Field(primary_key=True, max_length=64)
    drop_id: int = Field(foreign_key="drops.id", index=True)
    user_id: int = Field(foreign_key="users.id")
    sku: str = Field(max_length=64)
    quantity: int
    amount_cents: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(max_length=16, index=True)
    created_at: datetime = Field(sa_column=_ts())
    pay_by: datetime = Field(sa_column=_ts())
    paid_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    ended_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    payment_ref: str | None = Field(default=None, max_length=128)
    fcode_hash: str | None = Field(default=None, max_length=64)
    ref_token: str | None = Field(default=None, max_length=64)
    # A charge that succeeded after the order's payment lease ran out and its unit went back:
    # "pending" until the provider refunded it, then "refunded".
    refund_status: str | None = Field(default=None, max_length=16)
    refunded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    refund_ref: str | None = Field(default=None, max_length=128)
    # An asynchronous provider's payment (stripe, alipay): its state as the provider last told us, the
    # intent (Stripe's PaymentIntent id, Alipay's out_trade_no) and what the buyer's front end needs to
    # complete it (Stripe's client_secret, Alipay's signed redirect URL).
    payment_provider: str | None = Field(default=None, max_length=16)
    payment_status: str | None = Field(default=None, max_length=16)
    payment_intent: str | None = Field(default=None, max_length=128, index=True)
    payment_client: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    payment_attempt: int | None = Field(default=None)  # 1, 2...: the provider's key is the order id, then id-2...
    # The short order number purchase.lua gives ("<drop id>-<sequence>", e.g. "12-00042"; null for
    # orders made before numbers), the variant's sku (null without variants), and the copy of the
    # address the order ships to, recorded when it is paid (personal data).
    number: str | None = Field(default=None, max_length=32)
    variant: str | None = Field(default=None, max_length=64)
    shipping: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class MediaFile(SQLModel, table=True):
    """A stored picture file, named by its content's hash: every node serves it (no node's disk), and
    identical uploads are one row."""

    __tablename__ = "media_files"

    name: str = Field(primary_key=True, max_length=48)
    content_type: str = Field(max_length=16)
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
