"""A drop's Redis state built (or repaired) from its SQL record: on first use, after Redis lost it,
and by the sweeper's and `flashsale reconcile`'s merges."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.keys import Keys
from core.redis import RedisClient
from sale.catalog import DropCatalog
from sale.exceptions import DropNotFound
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.models import Drop
from sale.repository import OrderRepository
from sale.sink import ensure_group

log = logging.getLogger("flashsale.sale")
T = TypeVar("T")


class DropLoader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: RedisClient, keys: Keys,
                 inventory: Inventory, catalog: DropCatalog) -> None:
        self.sessions = sessions
        self.redis = redis
        self.keys = keys
        self.inventory = inventory
        self.catalog = catalog
        self._locks: dict[int, asyncio.Lock] = {}
        self._builds: dict[int, asyncio.Future[int]] = {}
        self._sku: dict[int, str] = {}

    async def load(self, drop: Drop, *, merge: bool = False) -> int:
        """Builds the drop's Redis state from SQL (once per process at a time); returns remaining.

        Single flight: every poller that finds the drop missing from Redis at once (all the waiting
        buyers on a fresh drop) awaits the one build in progress instead of queueing for its own SQL
        read. A merge (a repair) always runs itself, after any build in progress."""
        assert drop.id is not None
        if merge:
            return await self._build(drop, merge=True)
        drop_id = drop.id
        build = self._builds.get(drop_id)
        if build is None:
            build = self._builds[drop_id] = asyncio.ensure_future(self._build(drop, merge=False))

            def forget(done: asyncio.Future[int]) -> None:
                if self._builds.get(drop_id) is done:
                    del self._builds[drop_id]
                if not done.cancelled():
                    done.exception()  # retrieved here too: every waiter may have gone

            build.add_done_callback(forget)
        return await asyncio.shield(build)  # one waiter cancelled does not cancel the others' build

    async def _build(self, drop: Drop, *, merge: bool) -> int:
        assert drop.id is not None
        lock = self._locks.setdefault(drop.id, asyncio.Lock())
        async with lock, self.sessions() as session:
            orders = await OrderRepository(session).for_drop(drop.id)
        loaded = await self.inventory.load(drop, [LiveOrder.from_row(o).lua_json() for o in orders], merge=merge)
        await ensure_group(self.redis, self.keys, drop.id)
        self._sku[drop.id] = drop.sku
        if loaded is not None:
            log.info("drop %s state %s from SQL: remaining=%s", drop.id, "merged" if merge else "built", loaded[0])
            return loaded[0]
        inv = (await self.inventory.counters([drop.id]))[0]
        return int(inv.get(b"remaining", drop.stock))

    async def load_by_id(self, drop_id: int) -> Drop:
        """Loads the drop by id; raises drop_not_found for a drop the record does not have."""
        drop = await self.catalog.get(drop_id)
        if drop is None:
            raise DropNotFound()
        await self.load(drop)
        return drop

    async def retry_missing(self, drop_id: int, attempt: Callable[[], Awaitable[T]],
                            missing: Callable[[T], Awaitable[bool]]) -> T:
        """The one "missing in Redis: rebuild from SQL, retry once": `attempt` again after the drop
        was loaded when `missing` says its answer came from a drop Redis does not hold (lost, flushed,
        never loaded). Raises drop_not_found for a drop the record does not have."""
        result = await attempt()
        if not await missing(result):
            return result
        await self.load_by_id(drop_id)
        return await attempt()

    async def sku_of(self, drop_id: int) -> str:
        """The drop's SKU, known once this process loaded the drop (an F-code may be bound to one)."""
        sku = self._sku.get(drop_id)
        return sku if sku is not None else (await self.load_by_id(drop_id)).sku
