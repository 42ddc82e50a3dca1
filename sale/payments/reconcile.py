"""`flashsale payments reconcile`: the providers' records beside the orders, every difference printed,
and with --fix mended the way a late notice would have (pay, refund, close)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.live_order import LiveOrder
from sale.lookup import OrderLookup
from sale.payments.provider import AsyncProvider, ProviderError, RemotePayment
from sale.payments.repository import PaymentRepository
from sale.payments.service import PaymentService


@dataclass(frozen=True, slots=True)
class Difference:
    provider: str
    intent: str
    order_id: str | None
    what: str
    mend: str  # the notice kind that mends it ("succeeded", "canceled"), "" when only a person can


class PaymentReconciler:
    def __init__(self, payments: PaymentService, lookup: OrderLookup,
                 sessions: async_sessionmaker[AsyncSession]) -> None:
        self.payments = payments
        self.lookup = lookup
        self.sessions = sessions

    async def differences(self, since: datetime) -> list[Difference]:
        async with self.sessions() as session:
            rows = await PaymentRepository(session).provider_orders(since)
        found: list[Difference] = []
        for name, provider in sorted(self.payments.providers.items()):
            ours = [LiveOrder.from_row(row) for row in rows if row.payment_provider == name and row.payment_intent]
            remote = await self._remote(provider, ours, since)
            by_intent = {payment.intent: payment for payment in remote}
            for order in ours:
                live = await self.lookup.find(order.id) or order
                found.extend(_compare(name, live, by_intent.pop(order.pay_intent, None)))
            # Payments the provider holds whose order the record does not show with them yet (the
            # order stream behind, or a crash before the intent was recorded): compared with the live order.
            for payment in by_intent.values():
                live_order = await self.lookup.find(payment.order_id) if payment.order_id else None
                if live_order is not None and live_order.pay_intent in ("", payment.intent):
                    found.extend(_compare(name, live_order, payment))
                elif payment.status == "succeeded":
                    found.append(Difference(name, payment.intent, payment.order_id,
                                            "succeeded at the provider, unknown to the orders", ""))
        return found

    async def _remote(self, provider: AsyncProvider, ours: list[LiveOrder], since: datetime) -> list[RemotePayment]:
        listed = await provider.since(since)
        if listed is not None:
            return listed
        remote = []
        for order in ours:
            remote.append(await provider.lookup(order.pay_intent))
        return remote

    async def run(self, since: datetime, fix: bool, say: Callable[[str], object]) -> int:
        """Prints each difference; with `fix`, mends those a notice can. 0 when none remain."""
        try:
            found = await self.differences(since)
        except ProviderError as exc:
            say(f"a provider did not answer: {exc}")
            return 2
        remaining = 0
        for diff in found:
            line = f"{diff.provider} {diff.intent} order {diff.order_id or '-'}: {diff.what}"
            if fix and diff.mend and diff.order_id:
                outcome = await self.payments.apply(diff.order_id, diff.mend, diff.intent)
                say(f"{line} -> fixed ({outcome})")
            else:
                remaining += 1
                say(line)
        say(f"{len(found)} difference(s); {remaining} left")
        return 1 if remaining else 0


def _compare(provider: str, order: LiveOrder, remote: RemotePayment | None) -> list[Difference]:
    intent = order.pay_intent
    if remote is None:
        return [] if order.status != "paid" else [
            Difference(provider, intent, order.id, "order paid, the provider has no such payment", "")]
    settled = order.status in ("paid", "refunded") or order.refund in ("pending", "refunded")
    if remote.status == "succeeded" and not settled:
        return [Difference(provider, intent, order.id, f"succeeded at the provider, order is {order.status}",
                           "succeeded")]
    if remote.status == "canceled" and order.pay_status in ("pending", "failed"):
        return [Difference(provider, intent, order.id, "closed at the provider, order still waits for it",
                           "canceled")]
    if order.status == "paid" and remote.status not in ("succeeded", "refunded"):
        return [Difference(provider, intent, order.id, f"order paid, the provider says {remote.status}", "")]
    return []
