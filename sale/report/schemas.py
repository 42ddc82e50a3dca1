from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sale.schemas import QueueCounts


class Bucket(BaseModel):
    """Orders made and paid in one interval: per second for the rush, per minute after it."""

    at: datetime
    seconds: int
    units_reserved: int
    units_paid: int
    revenue_cents: int


class ProviderLine(BaseModel):
    provider: str           # test, stripe, alipay
    status: str             # the payment's state: succeeded, pending, failed, canceled, refunded
    orders: int
    amount_cents: int


class ReportOut(BaseModel):
    drop_id: int
    name: str
    sku: str
    currency: str
    price_cents: int
    stock: int
    starts_at: datetime
    ends_at: datetime
    sold_out_at: datetime | None
    seconds_to_sell_out: float | None
    units: dict[str, int]             # by order status, plus remaining
    revenue_cents: int                # paid minus refunded
    refunded_orders: int
    refunded_cents: int
    attempts: int
    refusals: dict[str, int]          # by the contract's code
    queue: QueueCounts | None
    payments: list[ProviderLine]
    referred_orders: int
    referred_units: int
    series: list[Bucket]
