"""Start-up of the sale domain: scripts registered once, services made, background loops started."""
from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from core.runtime import Runtime
from sale.catalog import DropCatalog
from sale.hooks import PaidRecorder
from sale.inventory import Inventory, register_scripts
from sale.orders import OrderService
from sale.payment import make_provider
from sale.service import SaleService
from sale.sink import OrderSink
from sale.sweeper import Sweeper


async def setup_sale(runtime: Runtime) -> tuple[SaleService, OrderService]:
    register_scripts(runtime.scripts)
    await runtime.scripts.load_all(runtime.redis)
    inventory = Inventory(runtime.redis, runtime.keys, runtime.scripts,
                          payment_lease_ms=int(runtime.settings.payment_lease_seconds * 1000))
    sale = SaleService(runtime, inventory, DropCatalog(runtime.redis, runtime.keys, runtime.sessions))
    orders = OrderService(runtime, sale, inventory, make_provider(runtime.settings.payment_provider))
    runtime.services["sale"] = sale
    runtime.services["orders"] = orders
    return sale, orders


@dataclass
class Background:
    """The order sink and the expiry sweeper of one worker."""

    sink: OrderSink
    tasks: list[asyncio.Task[None]]

    async def stop(self, drain_seconds: float) -> None:
        """The sweeper stops at once; the sink finishes its batch and writes what is left (graceful stop)."""
        sink_task, *others = self.tasks
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.sink.stop(sink_task, drain_seconds)
        while not sink_task.done():  # a cancel may be swallowed by a library's wake-up: cancel again
            sink_task.cancel()
            await asyncio.wait({sink_task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            sink_task.result()


def background_loops(runtime: Runtime) -> Background:
    sale, orders = runtime.services["sale"], runtime.services["orders"]
    recorders: list[PaidRecorder] = [runtime.services[name] for name in ("share", "fcodes") if name in runtime.services]
    sink = OrderSink(runtime, recorders)
    return Background(sink, [
        asyncio.create_task(sink.run(), name="order-sink"),
        asyncio.create_task(Sweeper(runtime, sale, orders).run(), name="sweeper"),
    ])
