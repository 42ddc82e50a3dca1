"""The API's order as JSON (/work/shared/API.md "Buying"): what a simulated buyer reads back from a
purchase or a payment. Dates stay ISO 8601 strings; the load test only passes them along."""
from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, TypeGuard

OrderStatus = Literal["reserved", "paid", "expired", "cancelled", "refunded"]


class OrderJson(TypedDict):
    id: str
    drop_id: int
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    status: OrderStatus
    created_at: str
    pay_by: str
    paid_at: str | None
    share_url: NotRequired[str | None]
    number: NotRequired[str]
    variant: NotRequired[str | None]


class PurchaseBody(TypedDict):
    """What a purchase sends: one unit, perhaps with an F-code or a friend's share token, of the
    variant the buyer chose on a drop with variants."""

    quantity: int
    fcode: NotRequired[str]
    ref: NotRequired[str]
    variant: NotRequired[str]


def is_order(data: Any) -> TypeGuard[OrderJson]:
    """An answer shaped like an order (its id and status: what the buyer goes on with)."""
    return isinstance(data, dict) and isinstance(data.get("id"), str) and isinstance(data.get("status"), str)
