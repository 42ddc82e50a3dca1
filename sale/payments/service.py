"""Asynchronous payments: start one at a provider, apply its signed notices, close it before the order's
units go back. Redis holds the order's payment (pay_begin / pay_record / pay_event.lua), SQL each
notice once (payment_events) and the order's record through the order stream."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.addresses.schemas import Shipping
from accounts.addresses.service import AddressBook
from codes.gate import Gate
from core.db import DATABASE_DOWN
from core.errors import NotFound
from core.metrics import PAYMENT_NOTICES, count_payment
from core.tokens import Claims
from sale.catalog import DropCatalog
from sale.exceptions import (
    DropNotFound,
    OrderExpired,
    OrderNotFound,
    PaymentInProgress,
    ProviderNotOffered,
    ProviderUnavailable,
    refusal,
)
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.loader import DropLoader
from sale.lookup import drop_of
from sale.payments.provider import AsyncProvider, Notice, PaymentRequest, ProviderError
from sale.payments.refunds import Refunds
from sale.share.links import ShareLinks

log = logging.getLogger("flashsale.payments")
NOTICE_OUTCOMES = frozenset({"paid", "refund_due", "failed", "canceled", "stale", "unchanged", "seen", "ignored",
                             "unknown_order", "refunded", "was_paid"})


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    body: bytes
    media_type: str


class PaymentService:
    def __init__(self, providers: Mapping[str, AsyncProvider], inventory: Inventory, loader: DropLoader,
                 catalog: DropCatalog, sessions: async_sessionmaker[AsyncSession], share: ShareLinks, gate: Gate,
                 refunds: Refunds, addresses: AddressBook) -> None:
        self.addresses = addresses  # the address an order ships to, read when the buyer pays
        self.providers = dict(providers)
        self.inventory = inventory
        self.loader = loader
        self.catalog = catalog
        self.sessions = sessions
        self.share = share
        self.gate = gate
        self.refunds = refunds

    def offered(self) -> list[str]:
        return sorted(self.providers)

    def provider(self, name: str) -> AsyncProvider:
        found = self.providers.get(name)
        if found is None:
            raise ProviderNotOffered(f"The payment method {name!r} is not offered here")
        return found

    # ---- the buyer starts a payment ----
    async def start(self, claims: Claims, order_id: str, provider_name: str,
                    check_token: Callable[[], Awaitable[object]], shipping: Shipping | None = None) -> LiveOrder:
        """The order with its pending payment: created at the provider once (its idempotency key is the
        order id, then order id-2... after a switch), answered again on every call."""
        provider = self.provider(provider_name)
        drop_id = drop_of(order_id)
        state, order = await self._begin(drop_id, order_id, claims.user_id, provider.name, check_token,
                                         shipping=shipping)
        if state == "switch":
            assert order is not None
            await self._close_open(order)
            state, order = await self._begin(drop_id, order_id, claims.user_id, provider.name, check_token,
                                             replace=True, shipping=shipping)
        if state == "paid":
            assert order is not None
            return order
        if state not in ("begun", "existing"):
            raise refusal(state) or PaymentInProgress()
        assert order is not None
        if state == "existing" and order.pay_intent:
            return order
        if not provider.offers(order.currency):
            raise ProviderNotOffered(f"{provider.name} does not take payment in {order.currency}")
        drop = await self.catalog.get(drop_id)
        request = PaymentRequest(order_id=order.id, attempt=_attempt(order), amount_cents=order.amount_cents,
                                 currency=order.currency, subject=drop.name if drop else order.sku,
                                 pay_by_ms=order.pay_by_ms)
        try:
            started = await provider.start(request)
        except ProviderError as exc:
            log.warning("order %s: %s", order_id, exc)
            count_payment(provider.name, "failed")
            raise ProviderUnavailable() from None
        state, recorded = await self.inventory.record_payment(drop_id, order_id, provider.name, request.attempt,
                                                              started.intent, started.client)
        if state != "recorded" or recorded is None:
            raise PaymentInProgress("The order changed while the payment was being created; reload it")
        return recorded

    async def _begin(self, drop_id: int, order_id: str, user_id: int, provider: str,
                     check_token: Callable[[], Awaitable[object]], *,
                     replace: bool = False, shipping: Shipping | None = None) -> tuple[str, LiveOrder | None]:
        checked = False

        async def missing(begun: tuple[str, LiveOrder | None]) -> bool:
            nonlocal checked
            if begun[0] not in ("begun", "existing") and not checked:
                checked = True
                await check_token()  # any answer but a payment: a revoked token's 401 first
            return begun[0] == "not_found" and await self.inventory.order(drop_id, order_id) is None

        try:
            state, order = await self.loader.retry_missing(
                drop_id, lambda: self.inventory.begin_payment(drop_id, order_id, user_id, provider, replace=replace,
                                                 shipping=shipping),
                missing)
        except DropNotFound:
            raise OrderNotFound() from None
        if state == "due":
            raise OrderExpired()
        return state, order

    async def _close_open(self, order: LiveOrder) -> None:
        """Closes the order's open payment at its provider before another is begun (or the order is
        cancelled); a payment that succeeded meanwhile pays the order."""
        provider = self.providers.get(order.pay_provider)
        if provider is None:
            raise PaymentInProgress("The order's payment is with a provider that is no longer offered")
        outcome = "closed"
        if order.pay_intent:
            try:
                outcome = await provider.close(order.pay_intent)
            except ProviderError as exc:
                log.warning("order %s: closing its %s payment failed: %s", order.id, order.pay_provider, exc)
                raise ProviderUnavailable() from None
        if outcome == "succeeded":
            await self._apply(order.drop_id, order.id, "succeeded", order.pay_intent)
            raise PaymentInProgress("This order has just been paid")
        await self.inventory.payment_event(order.drop_id, order.id, "canceled", order.pay_intent)

    async def close_for_cancel(self, order: LiveOrder) -> None:
        """The buyer cancels an order whose payment is open: closed at the provider first."""
        await self._close_open(order)

    # ---- the provider's notices ----
    async def notice(self, provider_name: str, body: bytes, signature: str | None) -> Acknowledgement:
        """Verifies the notice with the provider's library and applies it to the order in one Redis step
        that also records it (once per event id: see pay_event.lua; the sink writes its SQL row). The
        provider is answered only after that step: an error before it makes the provider retry."""
        provider = self.providers.get(provider_name)
        if provider is None:
            raise NotFound("This store takes no payments through that provider")
        ack = Acknowledgement(*provider.acknowledge())
        notice = provider.verify(body, signature)
        if notice is None:
            return ack  # a kind of event the service does not act on
        outcome = await self._apply_notice(provider, notice)
        if outcome in ("paid", "failed"):  # what the buyer's payment came to (once per notice)
            count_payment(provider.name, "succeeded" if outcome == "paid" else "declined")
        PAYMENT_NOTICES.labels(provider.name, outcome if outcome in NOTICE_OUTCOMES else "other").inc()
        return ack

    async def _apply_notice(self, provider: AsyncProvider, notice: Notice) -> str:
        if not notice.order_id:
            log.info("%s notice %s is about no order of ours: ignored", provider.name, notice.event_id)
            return "ignored"
        if notice.kind == "refunded":
            return await self.refunds.seen_at_provider(notice.order_id, notice.intent)
        try:
            drop_id = drop_of(notice.order_id)
        except OrderNotFound:
            log.info("%s notice %s names no order of ours: ignored", provider.name, notice.event_id)
            return "ignored"
        try:
            return await self._apply(drop_id, notice.order_id, notice.kind, notice.intent,
                                     (provider.name, notice.event_id))
        except (DropNotFound, OrderNotFound):
            log.warning("%s notice %s for unknown order %s: ignored", provider.name, notice.event_id,
                        notice.order_id)
            return "unknown_order"

    async def _apply(self, drop_id: int, order_id: str, kind: str, intent: str,
                     notice: tuple[str, str] = ("", "")) -> str:
        minted = self.share.mint_token() if kind == "succeeded" else ""

        async def missing(result: tuple[str, LiveOrder | None]) -> bool:
            return result[0] == "not_found" and await self.inventory.order(drop_id, order_id) is None

        state, order = await self.loader.retry_missing(
            drop_id, lambda: self.inventory.payment_event(drop_id, order_id, kind, intent, minted, notice), missing)
        if state == "not_found" or order is None:
            raise OrderNotFound()
        if state == "paid" and order.share == minted:
            await self._paid(order)
        elif state == "refund_due":
            await self.refunds.late_charge(order)
        elif state == "stale":
            await self.refunds.second_charge(order, intent)
        return state

    async def apply(self, order_id: str, kind: str, intent: str) -> str:
        """A notice's effect without the notice (reconcile's mend): as if the provider had just said so."""
        return await self._apply(drop_of(order_id), order_id, kind, intent)

    async def _paid(self, order: LiveOrder) -> None:
        await self.share.hold_until_recorded(order)
        if order.fcode:
            with contextlib.suppress(*DATABASE_DOWN):
                await self.gate.order_paid(order.fcode, order.id, order.user_id)

    # ---- close before release (the sweeper) ----
    async def close_due(self, orders: list[LiveOrder]) -> int:
        """Orders past their pay-by with an open payment: closed at the provider; the units go back (at
        the next sweep) only once it confirmed, and a payment it says succeeded pays the order."""
        closed = 0
        for order in orders:
            provider = self.providers.get(order.pay_provider)
            if provider is None:
                log.error("order %s: its payment's provider %r is not configured; it stays reserved",
                          order.id, order.pay_provider)
                continue
            try:
                outcome = await provider.close(order.pay_intent) if order.pay_intent else "closed"
                await self._apply(order.drop_id, order.id, "succeeded" if outcome == "succeeded" else "canceled",
                                  order.pay_intent)
                closed += 1
            except ProviderError as exc:
                log.warning("order %s: close at %s failed (retried): %s", order.id, provider.name, exc)
        return closed


def _attempt(order: LiveOrder) -> int:
    return max(1, order.pay_attempt)
