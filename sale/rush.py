"""A sale's rush: the moments after a drop opens while units are still there to take, when the crowd
arrives all at once. Work that can wait (receipts and other messages without a deadline) steps aside
for it: messages/sender.py asks `SaleRush.on` before each batch it claims."""
from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from core.clock import Clock, as_utc
from sale.inventory import Inventory
from sale.models import Drop


class CurrentDrops(Protocol):
    """The drops not yet ended (sale/catalog.py's DropCatalog)."""

    async def current(self) -> list[Drop]: ...


class SaleRush:
    def __init__(self, catalog: CurrentDrops, inventory: Inventory, clock: Clock, seconds: float) -> None:
        self.catalog = catalog
        self.inventory = inventory
        self.clock = clock
        self.window = timedelta(seconds=seconds)

    async def on(self) -> bool:
        """Some drop opened less than the window ago and still has units anyone may buy. A drop that
        sells slowly stops counting when the window ends, so nothing waits longer than that."""
        now = self.clock.now()
        opened = [d.id for d in await self.catalog.current()
                  if d.id is not None and as_utc(d.starts_at) <= now < as_utc(d.starts_at) + self.window]
        if not opened:
            return False
        return any(live is not None and live.remaining > 0 for live in await self.inventory.live(opened))
