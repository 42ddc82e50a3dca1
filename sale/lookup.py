"""Looking an order up: Redis while the drop is live there, else the SQL record. The one place that
does it, for order reads, share links and (through codes.gate.SaleOrders) the F-code gate."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.exceptions import DropNotFound, OrderNotFound, parse_drop_id
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.repository import OrderRepository


def drop_of(order_id: str) -> int:
    """Order ids are "<drop id>-<random>": the drop names the Redis slot that holds the order."""
    head, sep, tail = order_id.partition("-")
    if not sep or not tail or len(order_id) > 64:
        raise OrderNotFound()
    try:
        return parse_drop_id(head)
    except DropNotFound:
        raise OrderNotFound() from None


class OrderLookup:
    def __init__(self, inventory: Inventory, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.inventory = inventory
        self.sessions = sessions

    async def find(self, order_id: str, session: AsyncSession | None = None) -> LiveOrder | None:
        """The order's freshest state in its live JSON shape, or None (also for an id that cannot be
        one). Reads SQL in `session` when given (the request's transaction), else in one of its own."""
        try:
            drop_id = drop_of(order_id)
        except OrderNotFound:
            return None
        live = await self.inventory.order(drop_id, order_id)
        if live is not None:
            return live
        if session is not None:
            row = await OrderRepository(session).get(order_id)
        else:
            async with self.sessions() as own:
                row = await OrderRepository(own).get(order_id)
        return LiveOrder.from_row(row) if row is not None else None

    async def give_back(self, order_id: str) -> str:
        """Cancels the order (the F-code it took went to another order): its units return to stock."""
        order = await self.find(order_id)
        if order is None:
            return "not_found"
        state, _ = await self.inventory.cancel(order.drop_id, order_id, order.user_id)
        return state
