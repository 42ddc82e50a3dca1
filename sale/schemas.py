from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.types import ProductName, Sku, paragraphs, plain_text

DEFAULT_ADMIT_PER_SECOND = 50
Phase = Literal["upcoming", "priority", "open", "sold_out", "ended"]


def _upper(value: str) -> str:
    return value.upper()


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$"), AfterValidator(_upper)]


Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), AfterValidator(paragraphs)]
SpecText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                     AfterValidator(plain_text)]


class Spec(BaseModel):
    """One row of a product's specifications ("Storage": "256 GB")."""

    model_config = ConfigDict(extra="forbid")

    name: SpecText
    value: SpecText


class VariantIn(BaseModel):
    """One variant of the product (a colour, a storage size) with its own stock."""

    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: ProductName
    stock: int = Field(ge=1, le=10_000_000)
    price_cents: int | None = Field(default=None, ge=0, le=10**10)  # default: the drop's


class VariantOut(BaseModel):
    sku: str
    name: str
    stock: int
    price_cents: int
    remaining: int


class DropCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    name: ProductName
    price_cents: int = Field(ge=0, le=10**10)
    currency: Currency
    stock: int = Field(ge=1, le=10_000_000)  # with variants: their sum (may be left out)
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    priority_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    per_user_limit: int = Field(default=1, ge=1, le=1000)
    pay_window_seconds: int = Field(default=1800, ge=1, le=7 * 24 * 3600)
    waiting_room: bool = False
    prequeue_minutes: int = Field(default=15, ge=0, le=24 * 60)
    admit_per_second: int = Field(default=DEFAULT_ADMIT_PER_SECOND, ge=1, le=100_000)
    challenge: bool | None = None  # default: on when waiting_room is
    reservation_only_minutes: int = Field(default=0, ge=0, le=24 * 60)
    waitlist_hold_minutes: int = Field(default=10, ge=1, le=24 * 60)  # a returned unit held for a waitlister
    shipping_required: bool = False  # paying needs an address (422 address_required without one)
    description: Description | None = None
    specs: list[Spec] = Field(default=[], max_length=40)
    variants: list[VariantIn] = Field(default=[], max_length=20)
    # Draws (see "Draws"): entries in [entries_open_at, entries_close_at), the draw at starts_at (default:
    # entries_close_at), then `backups` (default: the stock) backups in order behind the winners.
    mode: Literal["sale", "draw"] = "sale"
    entries_open_at: AwareDatetime | None = None
    entries_close_at: AwareDatetime | None = None
    backups: int | None = Field(default=None, ge=0, le=10_000_000)

    @model_validator(mode="after")
    def _draw_fields(self) -> DropCreate:
        if self.mode == "draw":
            if self.entries_open_at is None or self.entries_close_at is None:
                raise ValueError("a draw needs entries_open_at and entries_close_at")
            if self.entries_close_at <= self.entries_open_at:
                raise ValueError("entries_close_at must be after entries_open_at")
            if self.starts_at is not None and self.starts_at < self.entries_close_at:
                raise ValueError("starts_at (the draw) must be at or after entries_close_at")
            if self.per_user_limit != 1:
                raise ValueError("a draw's win is one unit: per_user_limit must be 1")
            if self.waiting_room:
                raise ValueError("a draw has no waiting room")
        elif self.entries_open_at is not None or self.entries_close_at is not None or self.backups is not None:
            raise ValueError('entries_open_at, entries_close_at and backups are for "mode": "draw"')
        return self

    @model_validator(mode="before")
    @classmethod
    def _stock_of_variants(cls, data: object) -> object:
        """With variants the drop's stock is their sum: filled in when left out, refused when it differs."""
        if isinstance(data, dict) and isinstance(data.get("variants"), list) and data["variants"]:
            stocks = [v.get("stock") for v in data["variants"] if isinstance(v, dict)]
            if all(type(s) is int for s in stocks):
                total = sum(stocks)  # type: ignore[arg-type]
                if data.get("stock") is None:
                    data = {**data, "stock": total}
                elif data.get("stock") != total:
                    raise ValueError(f"stock must be the sum of the variants' stock ({total})")
        return data

    @model_validator(mode="after")
    def _distinct_variants(self) -> DropCreate:
        if len({v.sku for v in self.variants}) != len(self.variants):
            raise ValueError("variant skus must be distinct")
        return self


class DropImageOut(BaseModel):
    """One stored size of a product picture, as same-origin paths (for srcset)."""

    width: int
    height: int
    webp: str
    jpeg: str


class DropPictureOut(BaseModel):
    """One product picture of the gallery: its main size's absolute URL, its own size, every stored size."""

    url: str
    width: int
    height: int
    sizes: list[DropImageOut]


class DropOut(BaseModel):
    id: int
    sku: str
    name: str
    price_cents: int
    currency: str
    stock: int
    starts_at: datetime
    ends_at: datetime
    priority_starts_at: datetime
    priority_minutes: int
    per_user_limit: int
    pay_window_seconds: int
    remaining: int
    phase: Phase
    waiting_room: bool
    prequeue_minutes: int
    admit_per_second: int
    challenge: bool
    image_url: str | None = None
    images: list[DropPictureOut] = []
    paused: bool = False  # an operator paused it: purchases and admissions are refused (403 drop_paused)
    notice: str | None = None  # the operator's message to everyone in the drop (plain text)
    reservations: int = 0  # accounts that asked to be reminded (issue 22)
    reservation_only_minutes: int = 0
    waitlist_hold_minutes: int = 10
    shipping_required: bool = False
    description: str | None = None
    specs: list[Spec] = []
    variants: list[VariantOut] = []
    mode: Literal["sale", "draw"] = "sale"
    entries_open_at: datetime | None = None   # a draw's entry window (null for a sale)
    entries_close_at: datetime | None = None
    backups: int | None = None


class QueueCounts(BaseModel):
    waiting: int
    admitted: int
    done: int
    expired: int


class WaitlistCounts(BaseModel):
    """The waitlist after sell-out: accounts waiting now, holds standing now (one unit each), and how
    many ever joined, were offered a unit, bought it (claimed), let it pass, or left."""

    waiting: int
    holds_active: int
    joined: int
    offered: int
    claimed: int
    passed: int
    left: int


class VariantStats(BaseModel):
    stock: int
    remaining: int
    reserved: int
    paid: int
    expired: int
    cancelled: int
    refunded: int


class StatsOut(BaseModel):
    drop_id: int
    stock: int
    remaining: int
    reserved: int
    paid: int
    expired: int
    cancelled: int
    attempts: int
    rejected: dict[str, int]
    sold_out_at: datetime | None
    phase: Phase
    queue: QueueCounts | None = None
    variants: dict[str, VariantStats] | None = None
    refunded: int = 0          # units refunded (while the drop was open their units went back on sale)
    revenue_cents: int = 0     # paid minus refunded
    waitlist: WaitlistCounts | None = None  # a sale drop's waitlist (null for a draw)


class PurchaseIn(BaseModel):
    """Documents the purchase body; the route parses the raw bytes itself for speed."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(default=1, ge=1, le=1_000_000)
    fcode: str | None = Field(default=None, max_length=64)
    ref: str | None = Field(default=None, max_length=128)
    variant: str | None = Field(default=None, max_length=64, description="the variant's sku (drops with variants)")


class PayIn(BaseModel):
    """The test provider's token, or a provider whose payment completes outside the request."""

    model_config = ConfigDict(extra="forbid")

    payment_token: str | None = Field(default=None, min_length=1, max_length=256)
    provider: Literal["test", "stripe", "alipay"] | None = None
    address_id: int | None = Field(default=None, ge=1, le=2_147_483_647)

    @model_validator(mode="after")
    def _one_way(self) -> PayIn:
        if (self.provider in (None, "test")) and self.payment_token is None:
            raise ValueError("payment_token is required for the test provider (or name another provider)")
        if self.provider not in (None, "test") and self.payment_token is not None:
            raise ValueError("payment_token is only for the test provider")
        return self

    @property
    def provider_name(self) -> str:
        return self.provider or "test"


class PaymentOut(BaseModel):
    provider: Literal["stripe", "alipay"]
    status: Literal["pending", "succeeded", "failed", "refunded"]
    intent_id: str | None = None
    client_secret: str | None = None
    redirect_url: str | None = None


class RefundJobOut(BaseModel):
    orders: int


class OrderOut(BaseModel):
    id: str
    drop_id: int
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    status: Literal["reserved", "paid", "expired", "cancelled", "refunded"]
    created_at: datetime
    pay_by: datetime
    paid_at: datetime | None
    share_url: str | None = None
    # Beyond the contract: a charge that arrived after the order expired or was cancelled is refunded.
    refund_status: Literal["pending", "refunded"] | None = None
    refunded_at: datetime | None = None
    payment: PaymentOut | None = None
