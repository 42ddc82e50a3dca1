"""Orders after the purchase: read, pay, cancel. Redis holds the live state, SQL the record."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from accounts.addresses.schemas import Shipping
from codes.gate import Gate
from core.db import DATABASE_DOWN
from core.metrics import count_payment
from core.token_versions import TokenVersions
from core.tokens import Claims
from sale.exceptions import (
    DropNotFound,
    OrderExpired,
    OrderNotCancellable,
    OrderNotFound,
    PaymentDeclined,
    refusal,
)
from sale.failover import FailoverRebuild
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.loader import DropLoader
from sale.lookup import OrderLookup, drop_of
from sale.payment import PaymentProvider
from sale.payments.service import PaymentService
from sale.repository import OrderRepository
from sale.share.links import ShareLinks

log = logging.getLogger("flashsale.orders")


class OrderService:
    def __init__(self, inventory: Inventory, lookup: OrderLookup, loader: DropLoader, gate: Gate,
                 share: ShareLinks, provider: PaymentProvider, versions: TokenVersions, failover: FailoverRebuild,
                 payments: PaymentService) -> None:
        self.inventory = inventory
        self.failover = failover
        self.versions = versions
        self.lookup = lookup
        self.loader = loader
        self.gate = gate
        self.share = share
        self.provider = provider
        self.payments = payments
        self.refunds = payments.refunds

    async def _render(self, session: AsyncSession, order: LiveOrder) -> bytes:
        return order.api_bytes(await self._share_url(session, order))

    async def _share_url(self, session: AsyncSession, order: LiveOrder) -> str | None:
        """The link's current URL from its row (the buyer may have replaced or revoked it); the token
        minted at payment while the row has not landed, or while the database is unreachable."""
        if order.status != "paid":
            return None
        try:
            links = await self.share.links(session, [order.id])
        except DATABASE_DOWN:
            links = {}
        if order.id in links:
            return links[order.id]
        return self.share.url(order.share) if order.share else None

    async def get(self, session: AsyncSession, claims: Claims, order_id: str) -> bytes:
        order = await self.lookup.find(order_id, session)
        if order is None or (order.user_id != claims.user_id and claims.role != "operator"):
            raise OrderNotFound()
        return await self._render(session, order)

    async def list_for(self, session: AsyncSession, claims: Claims) -> bytes:
        rows = await OrderRepository(session).for_user(claims.user_id)
        paid = [r.id for r in rows if r.status == "paid"]
        links = await self.share.links(session, paid) if paid else {}
        parts = [LiveOrder.from_row(r).api_bytes(links.get(r.id)) for r in rows]
        return b"[" + b",".join(parts) + b"]"

    async def pay(self, claims: Claims, order_id: str, token: str,
                  check_token: Callable[[], Awaitable[object]], provider: str = "test",
                  address_id: int | None = None) -> bytes:
        """The test provider charges in the request; the others begin a payment the provider's notice
        completes (sale/payments). With `address_id`, the buyer's address is read from its Redis copy
        (accounts/addresses/copy.py: SQL only when the copy lacks it) and recorded on the order as
        `shipping`, which the sink writes to the order's row."""
        shipping: Shipping | None = None
        if address_id is not None:
            await self.versions.check_recent(claims.user_id, claims.ver)
            shipping = await self.payments.addresses.shipping(claims.user_id, address_id)
        with self.failover.rebuilds_when_fenced(drop_of(order_id)):
            if provider != "test":
                await self.versions.check_recent(claims.user_id, claims.ver)
                return self._paid_answer(await self.payments.start(claims, order_id, provider, check_token,
                                                                   shipping))
            return await self._pay(claims, order_id, token, check_token, shipping)

    async def _hold(self, claims: Claims, drop_id: int, order_id: str, check_token: Callable[[], Awaitable[object]],
                    shipping: Shipping | None) -> tuple[str, LiveOrder]:
        """The order held for the charge ("held"), or paid before ("paid"); anything else raises."""
        checked = False

        async def missing(held: tuple[str, LiveOrder | None]) -> bool:
            nonlocal checked
            if held[0] != "held" and not checked:
                checked = True
                await check_token()
            return held[0] == "not_found" and await self.inventory.order(drop_id, order_id) is None

        try:
            state, order = await self.loader.retry_missing(
                drop_id, lambda: self.inventory.hold_payment(drop_id, order_id, claims.user_id, shipping), missing)
        except DropNotFound:
            raise OrderNotFound() from None
        if state == "due":
            await self.expire_due(drop_id, close=False)
            raise OrderExpired()
        error = refusal(state)
        if error is not None:
            raise error
        assert order is not None
        return state, order

    async def _pay(self, claims: Claims, order_id: str, token: str, check_token: Callable[[], Awaitable[object]],
                   shipping: Shipping | None = None) -> bytes:
        """Hold, charge, settle: Redis and the provider only. The paid state, the share link and an
        F-code's redemption reach SQL through the order stream (the sink), never in this request.

        The token is checked against this worker's copy of the account-wide versions (at most a
        second old), which is enough to charge; any answer but a hold (a refusal, an order paid
        before) first awaits `check_token`, the immediate account-wide check every other request
        makes, so a revoked token's answer is its 401 whatever the order's state."""
        drop_id = drop_of(order_id)
        await self.versions.check_recent(claims.user_id, claims.ver)
        state, order = await self._hold(claims, drop_id, order_id, check_token, shipping)
        if state == "paid":
            # Paid already: nothing more is charged. The URL is the one minted with the payment (a
            # replaced or revoked link shows in GET /api/orders/{id}).
            return self._paid_answer(order)
        try:
            charge = await self.provider.charge(order_id=order_id, amount_cents=order.amount_cents,
                                                currency=order.currency, token=token)
        except BaseException:
            await self.inventory.settle_payment(drop_id, order_id, False, "")
            raise
        count_payment("test", "succeeded" if charge.approved else "declined")
        minted = self.share.mint_token() if charge.approved else ""
        state, settled = await self.inventory.settle_payment(drop_id, order_id, charge.approved, charge.reference,
                                                           minted)
        if not charge.approved:
            raise PaymentDeclined(charge.reason or None)
        if state == "refund_due":
            assert settled is not None
            if not await self.refunds.late_charge(settled):
                raise OrderExpired("The time to pay ran out while the payment was processed: the charge "
                                   "will be refunded shortly") from None
            raise OrderExpired("The time to pay ran out while the payment was processed: the charge was "
                               "refunded")
        if state != "paid" or settled is None:
            raise OrderExpired()
        await self.share.hold_until_recorded(settled)
        if settled.fcode:
            # Should Redis have lost the code while SQL is away, the sink marks it once it can.
            with contextlib.suppress(*DATABASE_DOWN):
                await self.gate.order_paid(settled.fcode, order_id, claims.user_id)
        return self._paid_answer(settled)

    def _paid_answer(self, order: LiveOrder) -> bytes:
        return order.api_bytes(self.share.url(order.share) if order.share else None)

    async def cancel(self, session: AsyncSession, claims: Claims, order_id: str) -> bytes:
        with self.failover.rebuilds_when_fenced(drop_of(order_id)):
            return await self._cancel(session, claims, order_id)

    async def _cancel(self, session: AsyncSession, claims: Claims, order_id: str) -> bytes:
        drop_id = drop_of(order_id)

        async def missing(_: object) -> bool:  # the drop's state may have been lost: rebuilt from SQL
            return await self.inventory.order(drop_id, order_id) is None

        try:
            state, order = await self.loader.retry_missing(
                drop_id, lambda: self.inventory.cancel(drop_id, order_id, claims.user_id), missing)
        except DropNotFound:
            raise OrderNotFound() from None
        if state == "close_first":  # a provider's payment is open: closed there before the units go back
            assert order is not None
            await self.payments.close_for_cancel(order)
            state, order = await self.inventory.cancel(drop_id, order_id, claims.user_id, payment_closed=True)
        if state in ("cancelled", "expired"):
            assert order is not None
            await self._released(order)
        if state in ("cancelled", "was_cancelled"):
            assert order is not None
            return await self._render(session, order)  # cancelling twice answers the same
        raise refusal(state) or OrderNotCancellable()  # expired now or before, paying, not found, paid

    async def _released(self, order: LiveOrder) -> None:
        if order.fcode:
            await self.gate.order_released(order.fcode, order.id)

    async def expire_due(self, drop_id: int, *, close: bool = True) -> int:
        """Orders past their pay-by: expired (units back), or, with a provider payment open, closed at
        the provider first (`close`: the sweeper; a request leaves them to it)."""
        with self.failover.rebuilds_when_fenced(drop_id):
            expired, closing = await self.inventory.expire_due(drop_id)
        for order in expired:
            await self._released(order)
        if closing and close:
            await self.payments.close_due(closing)
        return len(expired)
