"""The composition root: every service built once per worker process and handed to the ones that
need it through their constructors. Routes read them, typed, from `Services` (see app/deps.py)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from codes.crypto import CodeCrypto
from codes.gate import Gate
from codes.service import FcodeService
from codes.state import CodeState
from codes.state import register_scripts as register_code_scripts
from codes.sync import CodeSync
from core.runtime import Runtime
from sale.drops import DropAdmin
from sale.failover import FailoverRebuild
from sale.images.service import DropImageService
from sale.images.store import MediaStore
from sale.inventory import Inventory
from sale.inventory import register_scripts as register_sale_scripts
from sale.loader import DropLoader
from sale.lookup import OrderLookup
from sale.orders import OrderService
from sale.payment import make_provider
from sale.purchase import PurchaseService
from sale.share.referral import ReferralSigner
from sale.share.service import ShareService
from sale.sink import OrderSink
from sale.sweeper import Sweeper

log = logging.getLogger("flashsale.wiring")


@dataclass(frozen=True, slots=True)
class Services:
    runtime: Runtime
    inventory: Inventory
    loader: DropLoader
    drops: DropAdmin
    purchases: PurchaseService
    orders: OrderService
    gate: Gate
    fcodes: FcodeService
    code_sync: CodeSync
    share: ShareService
    images: DropImageService


async def build_services(runtime: Runtime) -> Services:
    """Registers every Lua script once (SCRIPT LOAD), then builds the services bottom up."""
    register_sale_scripts(runtime.scripts)
    register_code_scripts(runtime.scripts)
    count_view = runtime.scripts.add("sale.share", "share_view.lua")
    await runtime.scripts.load_all(runtime.redis)
    settings = runtime.settings

    inventory = Inventory(runtime.redis, runtime.keys, runtime.scripts, wait_replicas=settings.redis_wait_replicas,
                          wait_timeout_ms=settings.redis_wait_timeout_ms)
    loader = DropLoader(runtime, inventory)
    lookup = OrderLookup(inventory, runtime.sessions)
    drops = DropAdmin(runtime, inventory, loader)

    crypto = CodeCrypto(settings.app_secret)
    code_state = CodeState(runtime.redis, runtime.keys, runtime.scripts)
    code_sync = CodeSync(runtime, code_state)
    gate = Gate(runtime, crypto, code_state, code_sync, lookup)  # the sale's order lookup, narrowly
    fcodes = FcodeService(runtime, crypto, code_state, code_sync, gate)

    referrals = ReferralSigner(settings.app_secret)
    share = ShareService(runtime, drops, lookup, referrals, count_view)
    purchases = PurchaseService(runtime.redis, runtime.keys, inventory, loader, gate, referrals,
                                settings.purchase_rate_per_second, FailoverRebuild(runtime, loader))
    orders = OrderService(inventory, lookup, loader, gate, share, make_provider(settings.payment_provider))
    try:
        await code_sync.drain()  # F-code changes a stopped worker had not written to SQL yet
    except Exception:
        log.exception("F-code record catch-up at start-up failed; the stats call retries it")
    return Services(runtime=runtime, inventory=inventory, loader=loader, drops=drops, purchases=purchases,
                    orders=orders, gate=gate, fcodes=fcodes, code_sync=code_sync, share=share,
                    images=DropImageService(MediaStore(settings.media_root), drops))


def background_loops(services: Services) -> list[asyncio.Task[None]]:
    """The order sink (stream to SQL) and the sweeper (expiry, Redis rebuilt from SQL)."""
    sweeper = Sweeper(services.runtime, services.loader, services.orders, services.purchases, services.code_sync)
    return [
        asyncio.create_task(OrderSink(services.runtime).run(), name="order-sink"),
        asyncio.create_task(sweeper.run(), name="sweeper"),
    ]
