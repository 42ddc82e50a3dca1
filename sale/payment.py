"""Payment providers. The built-in `test` provider accepts `test_ok` and declines everything else."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("flashsale.payment")


@dataclass(frozen=True, slots=True)
class ChargeResult:
    approved: bool
    reference: str
    reason: str = ""


class PaymentProvider(Protocol):
    name: str

    async def charge(self, *, order_id: str, amount_cents: int, currency: str, token: str) -> ChargeResult:
        """Charges once per order id: a provider must treat the order id as its idempotency key."""
        ...

    async def refund(self, *, order_id: str, charge_reference: str, amount_cents: int, currency: str) -> str:
        """Refunds a charge in full, once per charge (idempotent); returns the refund's reference."""
        ...


@dataclass(frozen=True, slots=True)
class Refund:
    order_id: str
    charge_reference: str
    amount_cents: int
    currency: str
    reference: str


class TestProvider:
    """Approves `test_ok`; records its refunds (in this process) so tests and rehearsals can check them."""

    name = "test"
    APPROVE = "test_ok"
    DECLINE = "test_decline"

    def __init__(self) -> None:
        self.refunds: dict[str, Refund] = {}  # by charge reference: a refund happens once
        self.charge_delay_seconds = 0.0  # a slow provider, for rehearsing late charges
        self.refund_failures = 0  # the next refunds that fail (a provider outage), for rehearsing retries


    async def charge(self, *, order_id: str, amount_cents: int, currency: str, token: str) -> ChargeResult:
        reference = "test_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]
        if self.charge_delay_seconds:
            await asyncio.sleep(self.charge_delay_seconds)
        if token == self.APPROVE:
            return ChargeResult(True, reference)
        reason = "declined by the test provider" if token == self.DECLINE else "unknown payment token"
        return ChargeResult(False, reference, reason)


    async def refund(self, *, order_id: str, charge_reference: str, amount_cents: int, currency: str) -> str:
        if self.refund_failures > 0:
            self.refund_failures -= 1
            raise ConnectionError("test provider: refund unavailable")
        refund = self.refunds.get(charge_reference)
        if refund is None:
            reference = "test_refund_" + hashlib.sha256(charge_reference.encode()).hexdigest()[:20]
            refund = self.refunds[charge_reference] = Refund(order_id, charge_reference, amount_cents, currency,
                                                             reference)
            log.warning("test provider refunded order %s (%s %s)", order_id, amount_cents, currency)
        return refund.reference


PROVIDERS: dict[str, type[TestProvider]] = {"test": TestProvider}


def make_provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]()
    except KeyError as exc:
        raise ValueError(f"unknown payment provider {name!r}") from exc
