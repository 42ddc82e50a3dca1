"""The live order: the one type an order has while it travels (purchase, render, sink, lookup, pay,
share). Redis keeps it as JSON written by the Lua scripts; `decode` reads that JSON, `api_bytes`
renders the contract's order, `from_row` and `lua_json` cross to and from the SQL record."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from accounts.addresses.schemas import Shipping
from core.clock import iso_ms
from sale.models import Order, shown_status


def _ms(value: Any) -> int | None:
    """The scripts write `false` for a time not reached yet."""
    return None if value is None or value is False else int(value)


def _to_ms(value: datetime | None) -> int | None:
    return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000) if value else None


@dataclass(frozen=True, slots=True)
class LiveOrder:
    id: str
    drop_id: int
    user_id: int
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    status: str                     # reserved, paying, paid, expired, cancelled, refunded
    created_ms: int
    pay_by_ms: int
    paid_ms: int | None = None
    ended_ms: int | None = None
    payment_ref: str = ""
    fcode: str = ""                 # the F-code's lookup hash, "" for none
    ref: str = ""                   # the referral token, "" for none
    addr: str = ""                  # the client address tag (Redis only; the record has none)
    share: str = ""                 # the share token minted at payment, "" for none
    refund: str = ""                # "", "pending" or "refunded" (a late charge)
    refunded_ms: int | None = None
    refund_ref: str = ""
    # An asynchronous provider's payment: provider, its state (pending, failed, succeeded, canceled,
    # refunded), the intent (PaymentIntent id, out_trade_no), what the front end completes it with.
    pay_provider: str = ""
    pay_status: str = ""
    pay_intent: str = ""
    pay_client: str = ""
    pay_attempt: int = 0
    number: str = ""                # the short order number purchase.lua gave, "" for older orders
    variant: str = ""               # the variant's sku, "" without variants
    ship: Shipping | None = None    # the address it ships to, recorded by the payment (personal data)

    @property
    def payment_open(self) -> bool:
        """A provider payment that might still succeed: the order's units must not go back before the
        provider closed it."""
        return bool(self.pay_provider) and self.pay_status in ("pending", "failed")

    @classmethod
    def decode(cls, raw: bytes | str) -> LiveOrder:
        """From the JSON the Lua scripts keep in the drop's orders hash."""
        d = orjson.loads(raw)
        return cls(
            id=d["id"], drop_id=int(d["drop_id"]), user_id=int(d["user_id"]), sku=d["sku"],
            quantity=int(d["quantity"]), amount_cents=int(d["amount_cents"]), currency=d["currency"],
            status=d["status"], created_ms=int(d["created_ms"]), pay_by_ms=int(d["pay_by_ms"]),
            paid_ms=_ms(d.get("paid_ms")), ended_ms=_ms(d.get("ended_ms")), payment_ref=d.get("payment_ref") or "",
            fcode=d.get("fcode") or "", ref=d.get("ref") or "", addr=d.get("addr") or "", share=d.get("share") or "",
            refund=d.get("refund") or "", refunded_ms=_ms(d.get("refunded_ms")), refund_ref=d.get("refund_ref") or "",
            pay_provider=d.get("pay_provider") or "", pay_status=d.get("pay_status") or "",
            pay_intent=d.get("pay_intent") or "", pay_client=d.get("pay_client") or "",
            pay_attempt=int(d.get("pay_attempt") or 0), number=d.get("number") or "", variant=d.get("variant") or "",
            ship=Shipping.from_dict(d["ship"]) if isinstance(d.get("ship"), dict) else None)

    @classmethod
    def from_row(cls, order: Order) -> LiveOrder:
        """A SQL order (the record) in the live shape."""
        return cls(
            id=order.id, drop_id=order.drop_id, user_id=order.user_id, sku=order.sku, quantity=order.quantity,
            amount_cents=order.amount_cents, currency=order.currency, status=order.status,
            created_ms=_to_ms(order.created_at) or 0, pay_by_ms=_to_ms(order.pay_by) or 0,
            paid_ms=_to_ms(order.paid_at), ended_ms=_to_ms(order.ended_at), payment_ref=order.payment_ref or "",
            fcode=order.fcode_hash or "", ref=order.ref_token or "", refund=order.refund_status or "",
            refunded_ms=_to_ms(order.refunded_at), refund_ref=order.refund_ref or "",
            pay_provider=order.payment_provider or "", pay_status=order.payment_status or "",
            pay_intent=order.payment_intent or "", pay_client=order.payment_client or "",
            pay_attempt=order.payment_attempt or 0, number=order.number or "", variant=order.variant or "",
            ship=Shipping.from_dict(order.shipping) if isinstance(order.shipping, dict) else None)

    def lua_json(self) -> bytes:
        """The JSON the Lua scripts keep (load.lua merges these from the record). Unset times are
        `false`; the refund and share fields are left out when empty (the scripts test presence)."""
        d: dict[str, object] = {
            "id": self.id, "drop_id": self.drop_id, "user_id": self.user_id, "sku": self.sku,
            "quantity": self.quantity, "amount_cents": self.amount_cents, "currency": self.currency,
            "status": self.status, "created_ms": self.created_ms, "pay_by_ms": self.pay_by_ms,
            "paid_ms": self.paid_ms or False, "ended_ms": self.ended_ms or False, "payment_ref": self.payment_ref,
            "fcode": self.fcode, "ref": self.ref,
        }
        if self.addr:
            d["addr"] = self.addr
        if self.number:
            d["number"] = self.number
        if self.variant:
            d["variant"] = self.variant
        if self.ship is not None:
            d["ship"] = self.ship.as_dict()
        if self.share:
            d["share"] = self.share
        if self.refund:
            d.update(refund=self.refund, refunded_ms=self.refunded_ms or False, refund_ref=self.refund_ref)
        if self.pay_provider:
            d.update(pay_provider=self.pay_provider, pay_status=self.pay_status, pay_intent=self.pay_intent,
                     pay_client=self.pay_client, pay_attempt=self.pay_attempt)
        return orjson.dumps(d)

    def payment(self) -> dict[str, str] | None:
        """The contract's `payment`: what the buyer's front end needs to complete a provider's payment
        (only while it can still be completed)."""
        if not self.pay_provider:
            return None
        shown: dict[str, str] = {"provider": self.pay_provider,
                                 "status": "failed" if self.pay_status == "canceled" else self.pay_status}
        completable = self.pay_status in ("pending", "failed") and self.status in ("reserved", "paying")
        if self.pay_provider == "stripe":
            shown["intent_id"] = self.pay_intent
            if completable:
                shown["client_secret"] = self.pay_client
        elif completable:
            shown["redirect_url"] = self.pay_client
        return shown

    def api_bytes(self, share_url: str | None = None) -> bytes:
        """The contract's order (API.md), as JSON bytes."""
        return orjson.dumps({
            "id": self.id, "drop_id": self.drop_id, "sku": self.sku, "quantity": self.quantity,
            "amount_cents": self.amount_cents, "currency": self.currency, "status": shown_status(self.status),
            "created_at": iso_ms(self.created_ms), "pay_by": iso_ms(self.pay_by_ms), "paid_at": iso_ms(self.paid_ms),
            "share_url": share_url, "refund_status": self.refund or None, "refunded_at": iso_ms(self.refunded_ms),
            "payment": self.payment(), "number": self.number or None, "variant": self.variant or None,
            "shipping": self.ship.as_dict() if self.ship is not None else None,
        })
