"""Start-up of the sale domain: scripts registered once, services made, background loops started."""
from __future__ import annotations

import asyncio

from core.runtime import Runtime
from sale.inventory import Inventory, register_scripts
from sale.orders import OrderService
from sale.payment import make_provider
from sale.queue.challenge import Challenges, Difficulty
from sale.queue.gate import QueueGate, QueueLimits
from sale.queue.gate import register_scripts as register_queue_scripts
from sale.queue.service import QueueService
from sale.service import SaleService
from sale.sink import OrderSink
from sale.sweeper import Sweeper


async def setup_sale(runtime: Runtime) -> tuple[SaleService, OrderService]:
    register_scripts(runtime.scripts)
    register_queue_scripts(runtime.scripts)
    await runtime.scripts.load_all(runtime.redis)
    inventory = Inventory(runtime.redis, runtime.keys, runtime.scripts)
    sale = SaleService(runtime, inventory)
    orders = OrderService(runtime, sale, inventory, make_provider(runtime.settings.payment_provider))
    runtime.services["sale"] = sale
    runtime.services["orders"] = orders
    runtime.services["queue"] = sale.queue = make_queue(runtime, sale)
    return sale, orders


def make_queue(runtime: Runtime, sale: SaleService) -> QueueService:
    s = runtime.settings
    limits = QueueLimits(admission_ms=s.queue_admission_seconds * 1000, stale_ms=s.queue_stale_seconds * 1000,
                         joins_per_address=s.queue_joins_per_address,
                         address_window_seconds=s.queue_address_window_seconds,
                         attempts_per_account_minute=s.queue_attempts_per_account_minute,
                         solution_ttl_seconds=s.queue_challenge_ttl_seconds + 60)
    challenges = Challenges(s.app_secret, s.queue_challenge_ttl_seconds,
                            Difficulty(s.queue_challenge_min_number, s.queue_challenge_number_per_join,
                                       s.queue_challenge_max_number))
    return QueueService(QueueGate(runtime.redis, runtime.keys, runtime.scripts, limits), challenges, sale)


def background_loops(runtime: Runtime) -> list[asyncio.Task[None]]:
    sale, orders = runtime.services["sale"], runtime.services["orders"]
    return [
        asyncio.create_task(OrderSink(runtime).run(), name="order-sink"),
        asyncio.create_task(Sweeper(runtime, sale, orders, runtime.services["queue"]).run(), name="sweeper"),
    ]
