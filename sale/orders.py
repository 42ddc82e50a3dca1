"""Orders after the purchase: read, pay, cancel. Redis holds the live state, SQL the record."""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from codes.gate import Gate
from core.clock import Clock
from core.db import DATABASE_DOWN
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
from sale.repository import OrderRepository
from sale.share.links import ShareLinks

log = logging.getLogger("flashsale.orders")
# A refund due this long ago was not made by its request (which refunds at once): the sweeper does it.
REFUND_RETRY_AFTER_MS = 30_000


class OrderService:
    def __init__(self, inventory: Inventory, lookup: OrderLookup, loader: DropLoader, gate: Gate,
                 share: ShareLinks, provider: PaymentProvider, versions: TokenVersions, clock: Clock,
                 failover: FailoverRebuild) -> None:
        self.inventory = inventory
        self.failover = failover
        self.versions = versions
        self.clock = clock
        self.lookup = lookup
        self.loader = loader
        self.gate = gate
        self.share = share
        self.provider = provider

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
                  check_token: Callable[[], Awaitable[object]]) -> bytes:
        with self.failover.rebuilds_when_fenced(drop_of(order_id)):
            return await self._pay(claims, order_id, token, check_token)

    async def _hold(self, claims: Claims, drop_id: int, order_id: str,
                    check_token: Callable[[], Awaitable[object]]) -> tuple[str, LiveOrder]:
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
                drop_id, lambda: self.inventory.hold_payment(drop_id, order_id, claims.user_id), missing)
        except DropNotFound:
            raise OrderNotFound() from None
        if state == "due":
            await self.expire_due(drop_id)
            raise OrderExpired()
        error = refusal(state)
        if error is not None:
            raise error
        assert order is not None
        return state, order

    async def _pay(self, claims: Claims, order_id: str, token: str,
                   check_token: Callable[[], Awaitable[object]]) -> bytes:
        """Hold, charge, settle: Redis and the provider only. The paid state, the share link and an
        F-code's redemption reach SQL through the order stream (the sink), never in this request.

        The token is checked against this worker's copy of the account-wide versions (at most a
        second old), which is enough to charge; any answer but a hold (a refusal, an order paid
        before) first awaits `check_token`, the immediate account-wide check every other request
        makes, so a revoked token's answer is its 401 whatever the order's state."""
        drop_id = drop_of(order_id)
        await self.versions.check_recent(claims.user_id, claims.ver)
        state, order = await self._hold(claims, drop_id, order_id, check_token)
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
        minted = self.share.mint_token() if charge.approved else ""
        state, settled = await self.inventory.settle_payment(drop_id, order_id, charge.approved, charge.reference,
                                                           minted)
        if not charge.approved:
            raise PaymentDeclined(charge.reason or None)
        if state == "refund_due":
            assert settled is not None
            try:
                await self._refund(drop_id, settled)
            except Exception:
                log.exception("refund of order %s failed; the sweeper retries it", order_id)
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

    async def _refund(self, drop_id: int, order: LiveOrder) -> None:
        """A charge that outlived its payment lease, for an order whose unit went back: refunded
        through the provider, and the order records it (streamed to SQL like any change)."""
        order_id = order.id
        log.warning("order %s was charged after its payment lease ended: refunding", order_id)
        reference = await self.provider.refund(order_id=order_id, charge_reference=order.payment_ref,
                                               amount_cents=order.amount_cents, currency=order.currency)
        await self.inventory.record_refund(drop_id, order_id, reference)

    async def retry_refunds(self, drop_id: int) -> int:
        """Late charges whose refund did not happen in the request (the provider failed, or the
        process stopped in between), retried by the sweeper; the provider's refund is idempotent per
        charge, so a retry racing the request refunds once."""
        due = await self.inventory.refunds_due(drop_id, self.clock.now_ms() - REFUND_RETRY_AFTER_MS)
        refunded = 0
        for order in due:
            if order.refund != "pending":
                continue
            try:
                await self._refund(drop_id, order)
                refunded += 1
            except Exception:
                log.exception("refund of order %s failed; retried at the next sweep", order.id)
        return refunded

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

    async def expire_due(self, drop_id: int) -> int:
        with self.failover.rebuilds_when_fenced(drop_id):
            expired = await self.inventory.expire_due(drop_id)
        for order in expired:
            await self._released(order)
        return len(expired)
