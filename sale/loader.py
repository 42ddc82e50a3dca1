"""A drop's Redis state built (or repaired) from its SQL record: on first use, after Redis lost it,
and by the sweeper's and `flashsale reconcile`'s merges."""
from __future__ import annotations

import asyncio
import logging

import orjson

from core.runtime import Runtime
from sale.exceptions import DropNotFound
from sale.inventory import Inventory
from sale.models import Drop
from sale.repository import DropRepository, OrderRepository, row_event
from sale.sink import ensure_group

log = logging.getLogger("flashsale.sale")


class DropLoader:
    def __init__(self, runtime: Runtime, inventory: Inventory) -> None:
        self.runtime = runtime
        self.inventory = inventory
        self._locks: dict[int, asyncio.Lock] = {}
        self._sku: dict[int, str] = {}

    async def load(self, drop: Drop, *, merge: bool = False) -> int:
        """Builds the drop's Redis state from SQL (once per process at a time); returns remaining."""
        assert drop.id is not None
        lock = self._locks.setdefault(drop.id, asyncio.Lock())
        async with lock, self.runtime.sessions() as session:
            orders = await OrderRepository(session).for_drop(drop.id)
        loaded = await self.inventory.load(drop, [orjson.dumps(row_event(o)) for o in orders], merge=merge)
        await ensure_group(self.runtime.redis, self.runtime.keys, drop.id)
        self._sku[drop.id] = drop.sku
        if loaded is not None:
            log.info("drop %s state %s from SQL: remaining=%s", drop.id, "merged" if merge else "built", loaded[0])
            return loaded[0]
        inv = (await self.inventory.counters([drop.id]))[0]
        return int(inv.get(b"remaining", drop.stock))

    async def load_by_id(self, drop_id: int) -> Drop:
        """Loads the drop by id; raises drop_not_found for a drop the record does not have."""
        async with self.runtime.sessions() as session:
            drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        await self.load(drop)
        return drop

    async def sku_of(self, drop_id: int) -> str:
        """The drop's SKU, known once this process loaded the drop (an F-code may be bound to one)."""
        sku = self._sku.get(drop_id)
        return sku if sku is not None else (await self.load_by_id(drop_id)).sku
