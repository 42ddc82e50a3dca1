"""Bodies and answers of the operator's controls and lists."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from accounts.addresses.schemas import ShippingOut
from core.types import ProductName, Sku, plain_text
from sale.models import NOTICE_MAX_LENGTH
from sale.schemas import Description, DropOut

MAX_STOCK = 10_000_000


class DropPatchIn(BaseModel):
    """What an operator may change on a drop not yet ended (a field left out, or null, stays). On a drop
    with variants `stock_delta` names the variant it changes (`variant`)."""

    model_config = ConfigDict(extra="forbid")

    stock_delta: int | None = Field(default=None, ge=-MAX_STOCK, le=MAX_STOCK,
                                    description="units added (negative: removed) live; 409 stock_conflict "
                                                "when fewer than that are left")
    variant: Sku | None = Field(default=None, description="the variant whose stock `stock_delta` changes (required "
                                                          "on a drop with variants, refused on one without)")
    name: ProductName | None = None
    starts_at: AwareDatetime | None = Field(default=None, description="only before the drop opens")
    priority_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60,
                                         description="only before the drop opens")
    ends_at: AwareDatetime | None = None
    per_user_limit: int | None = Field(default=None, ge=1, le=1000)
    admit_per_second: int | None = Field(default=None, ge=1, le=100_000)
    waitlist_hold_minutes: int | None = Field(default=None, ge=1, le=24 * 60,
                                              description="holds made from now on last this long")
    description: Description | None = Field(default=None, description="plain text; \"\" removes it")

    @model_validator(mode="after")
    def _something(self) -> DropPatchIn:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("nothing to change")
        if self.variant is not None and not self.stock_delta:
            raise ValueError("variant names the variant whose stock stock_delta changes: stock_delta is missing")
        return self


def _notice(value: str) -> str:
    """Plain text, line breaks allowed (shown as text on the pages, never as HTML)."""
    value = value.replace("\r\n", "\n")
    for line in value.split("\n"):
        plain_text(line)
    return value


NoticeText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=NOTICE_MAX_LENGTH),
                       AfterValidator(_notice)]


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: NoticeText = Field(description="shown at once on the drop's page and waiting room; \"\" removes it")


class CloneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime | None = Field(default=None, description="default: the next drop day")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refund_paid: bool = Field(default=False, description="also refund the drop's paid orders")


class CancelOut(BaseModel):
    drop: DropOut
    released: int = Field(description="reserved orders cancelled by this call (their units back in stock)")
    refunds_requested: bool


OrderStatusFilter = Literal["reserved", "paid", "expired", "cancelled", "refunded"]


class AdminOrderOut(BaseModel):
    id: str
    drop_id: int
    user_id: int
    buyer_email: str | None
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    status: str
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    ended_at: datetime | None
    refund_status: str | None
    refunded_at: datetime | None
    number: str | None = None      # null for orders from before numbers
    variant: str | None = None     # the variant's sku, null on a drop without variants
    shipping: ShippingOut | None = None  # the address it ships to, once paid with one (personal data)


class OrdersPage(BaseModel):
    items: list[AdminOrderOut]
    next_cursor: str | None
