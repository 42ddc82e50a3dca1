"""The fake Stripe's records and their JSON, in the shapes Stripe's API answers (the fields a shop
reads; `livemode` false throughout)."""
from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field

Json = dict[str, object]  # a JSON object on the wire (only at the edge: records are dataclasses)
ALPHABET = string.ascii_letters + string.digits
CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action",
              "processing")


def new_id(prefix: str, length: int = 24) -> str:
    """Stripe's ids: a type prefix and random letters and digits (unguessable, from `secrets`: random
    bytes below 248 = 4 * 62, so every character is equally likely)."""
    chosen = ""
    while len(chosen) < length:
        chosen += "".join(ALPHABET[byte % 62] for byte in secrets.token_bytes(length + 8) if byte < 248)
    return prefix + chosen[:length]


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Card:
    """A test payment method: `pm_card_visa` pays, `pm_card_chargeDeclined` is declined."""
    brand: str
    last4: str
    decline_code: str | None = None


TEST_CARDS = {
    "pm_card_visa": Card("visa", "4242"),
    "pm_card_mastercard": Card("mastercard", "4444"),
    "pm_card_chargeDeclined": Card("visa", "0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": Card("visa", "9995", "insufficient_funds"),
}


def payment_method_json(name: str, card: Card, created: int) -> Json:
    return {"id": name, "object": "payment_method", "type": "card", "created": created, "livemode": False,
            "card": {"brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
                     "country": "US", "funding": "credit"},
            "billing_details": {"address": None, "email": None, "name": None, "phone": None}, "metadata": {}}


@dataclass
class Intent:
    id: str
    client_secret: str
    amount: int
    currency: str
    metadata: dict[str, str]
    description: str | None
    automatic_payment_methods: bool
    created: int = field(default_factory=now)
    status: str = "requires_payment_method"
    payment_method: str | None = None
    latest_charge: str | None = None
    last_payment_error: Json | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None
    amount_received: int = 0

    def to_json(self) -> Json:
        methods = {"enabled": True, "allow_redirects": "always"} if self.automatic_payment_methods else None
        return {
            "id": self.id, "object": "payment_intent", "amount": self.amount, "amount_capturable": 0,
            "amount_details": {"tip": {}}, "amount_received": self.amount_received, "application": None,
            "automatic_payment_methods": methods, "canceled_at": self.canceled_at,
            "cancellation_reason": self.cancellation_reason, "capture_method": "automatic_async",
            "client_secret": self.client_secret, "confirmation_method": "automatic", "created": self.created,
            "currency": self.currency, "customer": None, "description": self.description,
            "last_payment_error": self.last_payment_error, "latest_charge": self.latest_charge, "livemode": False,
            "metadata": dict(self.metadata), "next_action": None, "on_behalf_of": None,
            "payment_method": self.payment_method, "payment_method_options": {},
            "payment_method_types": ["card"], "receipt_email": None, "setup_future_usage": None,
            "shipping": None, "statement_descriptor": None, "status": self.status,
        }


@dataclass
class Charge:
    id: str
    amount: int
    currency: str
    payment_intent: str
    payment_method: str
    metadata: dict[str, str]
    succeeded: bool
    failure_code: str | None = None
    failure_message: str | None = None
    amount_refunded: int = 0
    created: int = field(default_factory=now)

    @property
    def refunded(self) -> bool:
        return self.succeeded and self.amount_refunded >= self.amount

    def to_json(self) -> Json:
        return {
            "id": self.id, "object": "charge", "amount": self.amount,
            "amount_captured": self.amount if self.succeeded else 0, "amount_refunded": self.amount_refunded,
            "captured": self.succeeded, "created": self.created, "currency": self.currency,
            "failure_code": self.failure_code, "failure_message": self.failure_message, "livemode": False,
            "metadata": dict(self.metadata), "paid": self.succeeded, "payment_intent": self.payment_intent,
            "payment_method": self.payment_method, "refunded": self.refunded,
            "status": "succeeded" if self.succeeded else "failed",
        }


@dataclass
class Refund:
    id: str
    amount: int
    charge: str
    currency: str
    payment_intent: str
    reason: str | None
    metadata: dict[str, str]
    created: int = field(default_factory=now)

    def to_json(self) -> Json:
        return {"id": self.id, "object": "refund", "amount": self.amount, "charge": self.charge,
                "created": self.created, "currency": self.currency, "metadata": dict(self.metadata),
                "payment_intent": self.payment_intent, "reason": self.reason, "status": "succeeded",
                "balance_transaction": None}


@dataclass(frozen=True)
class Origin:
    """The API request an event came from (Stripe names it in the event's `request`)."""
    request_id: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    created: int
    object: Json  # a snapshot of the object at the time of the event
    api_version: str
    origin: Origin
    previous_attributes: Json | None = None

    def to_json(self) -> Json:
        data: Json = {"object": self.object}
        if self.previous_attributes is not None:
            data["previous_attributes"] = self.previous_attributes
        return {"id": self.id, "object": "event", "api_version": self.api_version, "created": self.created,
                "data": data, "livemode": False, "pending_webhooks": 1,
                "request": {"id": self.origin.request_id, "idempotency_key": self.origin.idempotency_key},
                "type": self.type}
