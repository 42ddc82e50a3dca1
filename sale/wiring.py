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
        await _cancel_all(others)
        await self.sink.stop(sink_task, drain_seconds)
        await _cancel_all([sink_task])


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancels loops and waits for them. A cancel can be swallowed when it races a library's own
    wake-up (asyncio.Condition in the Redis pool, Python 3.11): such a loop would go on forever, so it
    is cancelled again until it ends."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()


def background_loops(runtime: Runtime) -> Background:
    sale, orders = runtime.services["sale"], runtime.services["orders"]
    recorders: list[PaidRecorder] = [runtime.services[name] for name in ("share", "fcodes") if name in runtime.services]
    sink = OrderSink(runtime, recorders)
    return Background(sink, [
        asyncio.create_task(sink.run(), name="order-sink"),
        asyncio.create_task(Sweeper(runtime, sale, orders).run(), name="sweeper"),
    ])
