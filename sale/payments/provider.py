"""What every asynchronous payment provider offers the service (Stripe, Alipay), in typed values."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

NoticeKind = Literal["succeeded", "failed", "canceled", "refunded"]
RemoteStatus = Literal["pending", "succeeded", "failed", "canceled", "refunded", "unknown"]
CloseOutcome = Literal["closed", "succeeded"]
PROVIDER_TIMEOUT_SECONDS = 5.0  # a provider slower than this is "down": the buyer retries (same key)


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """One attempt at paying one order."""

    order_id: str
    attempt: int
    amount_cents: int
    currency: str
    subject: str          # what the buyer sees at the provider (the product's name)
    pay_by_ms: int        # the provider must refuse to take money after this

    @property
    def key(self) -> str:
        """The provider's idempotency key and trade number: the order id, then order id-2, -3..."""
        return self.order_id if self.attempt <= 1 else f"{self.order_id}-{self.attempt}"


@dataclass(frozen=True, slots=True)
class Started:
    intent: str           # PaymentIntent id, or Alipay's out_trade_no
    client: str           # client_secret, or the signed redirect URL


@dataclass(frozen=True, slots=True)
class Notice:
    """A provider's notice after its signature was verified by the provider's own library."""

    event_id: str
    kind: NoticeKind
    intent: str
    order_id: str | None  # from the notice's metadata / trade number; None when it is not ours
    amount_cents: int | None = None


@dataclass(frozen=True, slots=True)
class RemotePayment:
    """A payment as the provider's records hold it (for reconcile)."""

    intent: str
    order_id: str | None
    status: RemoteStatus
    amount_cents: int | None
    created: datetime | None = None


class ProviderError(Exception):
    """The provider failed, timed out or refused the call (nothing is known to have changed)."""


class AsyncProvider(Protocol):
    name: str

    def offers(self, currency: str) -> bool:
        """Whether this provider can take payment in this currency."""
        ...

    async def start(self, payment: PaymentRequest) -> Started:
        """Creates the payment at the provider (idempotent by `payment.key`)."""
        ...

    async def close(self, intent: str) -> CloseOutcome:
        """Closes the payment so that nothing more can be charged: "closed" once the provider confirms
        nothing was or can be charged, "succeeded" when it was paid already; raises ProviderError."""
        ...

    async def refund(self, intent: str, amount_cents: int, currency: str, key: str) -> str:
        """Refunds a succeeded payment in full, once per `key`; returns the refund's reference."""
        ...

    async def lookup(self, intent: str) -> RemotePayment:
        """The payment's state at the provider."""
        ...

    async def since(self, since: datetime) -> list[RemotePayment] | None:
        """Every payment created since then, or None when the provider cannot list them (each order
        is then looked up by its intent)."""
        ...

    def verify(self, body: bytes, signature: str | None) -> Notice | None:
        """The notice in a signed request body, verified by the provider's library: raises BadSignature
        for a missing, wrong or stale signature; None for an event kind the service does not use."""
        ...

    def acknowledge(self) -> tuple[bytes, str]:
        """The body and media type that tell the provider a notice was recorded."""
        ...

    async def aclose(self) -> None:
        """Closes the provider's connections (the worker is stopping)."""
        ...
