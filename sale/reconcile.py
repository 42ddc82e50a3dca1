"""`flashsale reconcile`: compare a drop's Redis state with its SQL record, and repair both ways."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from sale.inventory import Inventory
from sale.loader import DropLoader
from sale.models import shown_status
from sale.repository import DropRepository, OrderRepository


async def reconcile(sessions: async_sessionmaker[AsyncSession], clock: Clock, inventory: Inventory,
                    loader: DropLoader, drop_id: int | None, fix: bool, say: Callable[[str], object]) -> int:
    """Returns 0 when Redis and SQL agree (or were repaired), 1 when differences remain."""
    async with sessions() as session:
        repo = DropRepository(session)
        if drop_id is not None:
            one = await repo.get(drop_id)
            drops = [one] if one else []
        else:
            drops = await repo.not_ended(clock.now() - timedelta(days=7))
    if not drops:
        say("no drops to reconcile")
        return 0
    differences = 0
    for drop in drops:
        assert drop.id is not None
        async with sessions() as session:
            rows = {o.id: o for o in await OrderRepository(session).for_drop(drop.id)}
        live = await inventory.all_orders(drop.id)
        inv = (await inventory.counters([drop.id]))[0]
        only_sql = sorted(set(rows) - set(live))
        only_redis = sorted(set(live) - set(rows))
        status_diff = sorted(i for i in set(rows) & set(live) if rows[i].status != shown_status(live[i].status))
        held = {"reserved": 0, "paid": 0}
        for order in live.values():
            state = shown_status(order.status)
            if state in held:
                held[state] += order.quantity
        counters = {"remaining": int(inv.get(b"remaining", -1)), "paid": int(inv.get(b"paid", -1)), **{
            f"orders_{state}": units for state, units in held.items()}}
        # Every unit is remaining or held by a live order, and the paid counter matches the orders.
        balanced = bool(inv) and (counters["remaining"] + held["reserved"] + held["paid"] == drop.stock
                                  and counters["paid"] == held["paid"])
        say(f"drop {drop.id} ({drop.sku}): redis={'present' if inv else 'missing'} {counters} "
            f"only-in-sql={len(only_sql)} only-in-redis={len(only_redis)} status-differs={len(status_diff)} "
            f"invariant={'ok' if balanced else 'BROKEN'}")
        found = bool(only_sql or only_redis or status_diff or not balanced)
        if found and fix:
            # Redis-only orders are events the sink has not written yet: write them now (idempotent),
            # then merge SQL back into Redis and recompute the counters.
            async with sessions.begin() as session:
                await OrderRepository(session).upsert_events(live[i] for i in only_redis + status_diff)
            await loader.load(drop, merge=True)
            say(f"drop {drop.id}: repaired")
        elif found:
            differences += 1
    return 1 if differences else 0
