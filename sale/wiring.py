"""Start-up of the sale domain: scripts registered once, services made, background loops started."""
from __future__ import annotations

import asyncio

from core.runtime import Runtime
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
                          wait_replicas=runtime.settings.redis_wait_replicas,
                          wait_timeout_ms=runtime.settings.redis_wait_timeout_ms)
    sale = SaleService(runtime, inventory)
    orders = OrderService(runtime, sale, inventory, make_provider(runtime.settings.payment_provider))
    runtime.services["sale"] = sale
    runtime.services["orders"] = orders
    return sale, orders


def background_loops(runtime: Runtime) -> list[asyncio.Task[None]]:
    sale, orders = runtime.services["sale"], runtime.services["orders"]
    return [
        asyncio.create_task(OrderSink(runtime).run(), name="order-sink"),
        asyncio.create_task(Sweeper(runtime, sale, orders).run(), name="sweeper"),
    ]
