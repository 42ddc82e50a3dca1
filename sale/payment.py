"""Payment providers. The built-in `test` provider accepts `test_ok` and declines everything else."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


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


class TestProvider:
    name = "test"
    APPROVE = "test_ok"
    DECLINE = "test_decline"

    async def charge(self, *, order_id: str, amount_cents: int, currency: str, token: str) -> ChargeResult:
        reference = "test_" + hashlib.sha256(order_id.encode()).hexdigest()[:24]
        if token == self.APPROVE:
            return ChargeResult(True, reference)
        reason = "declined by the test provider" if token == self.DECLINE else "unknown payment token"
        return ChargeResult(False, reference, reason)


PROVIDERS: dict[str, type[TestProvider]] = {"test": TestProvider}


def make_provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]()
    except KeyError as exc:
        raise ValueError(f"unknown payment provider {name!r}") from exc
