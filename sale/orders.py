"""Orders after the purchase: read, pay, cancel. Redis holds the live state, SQL the record."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codes.gate import Gate
from core.tokens import Claims
from sale.exceptions import (
    DropNotFound,
    OrderExpired,
    OrderNotCancellable,
    OrderNotFound,
    PaymentDeclined,
    refusal,
)
from sale.inventory import Inventory
from sale.loader import DropLoader
from sale.lookup import OrderLookup, drop_of
from sale.payment import PaymentProvider
from sale.render import order_bytes
from sale.repository import OrderRepository, row_event
from sale.share.service import ShareService

log = logging.getLogger("flashsale.orders")


class OrderService:
    def __init__(self, inventory: Inventory, lookup: OrderLookup, loader: DropLoader, gate: Gate,
                 share: ShareService, provider: PaymentProvider) -> None:
        self.inventory = inventory
        self.lookup = lookup
        self.loader = loader
        self.gate = gate
        self.share = share
        self.provider = provider

    async def _render(self, session: AsyncSession, order: dict[str, Any]) -> bytes:
        url = None
        if order["status"] == "paid":
            url = (await self.share.urls(session, [order["id"]])).get(order["id"])
        return order_bytes(order, url)

    async def get(self, session: AsyncSession, claims: Claims, order_id: str) -> bytes:
        order = await self.lookup.find(order_id, session)
        if order is None or (order["user_id"] != claims.user_id and claims.role != "operator"):
            raise OrderNotFound()
        return await self._render(session, order)

    async def list_for(self, session: AsyncSession, claims: Claims) -> bytes:
        rows = await OrderRepository(session).for_user(claims.user_id)
        paid = [r.id for r in rows if r.status == "paid"]
        urls = await self.share.urls(session, paid) if paid else {}
        parts = [order_bytes(row_event(r), urls.get(r.id)) for r in rows]
        return b"[" + b",".join(parts) + b"]"

    async def _ensure_live(self, order_id: str) -> int:
        """Makes sure the drop's Redis state exists (it may have been lost) before changing an order."""
        drop_id = drop_of(order_id)
        if await self.inventory.order(drop_id, order_id) is None:
            try:
                await self.loader.load_by_id(drop_id)
            except DropNotFound:
                raise OrderNotFound() from None
        return drop_id

    async def pay(self, session: AsyncSession, claims: Claims, order_id: str, token: str) -> bytes:
        drop_id = await self._ensure_live(order_id)
        state, order = await self.inventory.hold_payment(drop_id, order_id, claims.user_id)
        if state == "due":
            await self.expire_due(drop_id)
            raise OrderExpired()
        error = refusal(state)
        if error is not None:
            raise error
        assert order is not None
        if state == "paid":
            return await self._render(session, order)  # paid already: nothing more is charged
        try:
            charge = await self.provider.charge(order_id=order_id, amount_cents=int(order["amount_cents"]),
                                                currency=str(order["currency"]), token=token)
        except BaseException:
            await self.inventory.settle_payment(drop_id, order_id, False, "")
            raise
        state, order = await self.inventory.settle_payment(drop_id, order_id, charge.approved, charge.reference)
        if not charge.approved:
            raise PaymentDeclined(charge.reason or None)
        if state != "paid" or order is None:
            # The lease ran out while the provider answered: the unit went back. Needs a refund.
            log.error("order %s charged after its payment lease ended (ref %s)", order_id, charge.reference)
            raise OrderExpired()
        await self._paid(session, order)
        return await self._render(session, order)

    async def _paid(self, session: AsyncSession, order: dict[str, Any]) -> None:
        if order.get("fcode"):
            await self.gate.order_paid(str(order["fcode"]), str(order["id"]))
        await self.share.order_paid(session, order)

    async def cancel(self, session: AsyncSession, claims: Claims, order_id: str) -> bytes:
        drop_id = await self._ensure_live(order_id)
        state, order = await self.inventory.cancel(drop_id, order_id, claims.user_id)
        if state in ("cancelled", "expired"):
            assert order is not None
            await self._released(order)
        if state in ("cancelled", "was_cancelled"):
            assert order is not None
            return await self._render(session, order)  # cancelling twice answers the same
        raise refusal(state) or OrderNotCancellable()  # expired now or before, paying, not found, paid

    async def _released(self, order: dict[str, Any]) -> None:
        if order.get("fcode"):
            await self.gate.order_released(str(order["fcode"]), str(order["id"]))

    async def expire_due(self, drop_id: int) -> int:
        expired = await self.inventory.expire_due(drop_id)
        for order in expired:
            await self._released(order)
        return len(expired)
