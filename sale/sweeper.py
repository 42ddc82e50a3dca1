"""Background upkeep in every worker: expiry on time, and Redis rebuilt from SQL when it lost state."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codes.sync import CodeSync
from core.clock import Clock
from core.db import DATABASE_DOWN
from core.keys import Keys
from core.loops import forever
from core.metrics import EXPIRED
from core.redis import RedisClient
from sale.catalog import DropCatalog
from sale.loader import DropLoader
from sale.orders import OrderService
from sale.payments.refunds import Refunds
from sale.purchase import PurchaseService
from sale.queue.service import QueueService
from sale.repository import DropRepository, OrderRepository
from sale.waitlist.service import WaitlistService

log = logging.getLogger("flashsale.sweeper")
CHECK_EVERY_SECONDS = 2.0
RETIRE_AFTER = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Upkept:
    """The services whose upkeep the sweeper drives."""

    loader: DropLoader
    orders: OrderService
    purchases: PurchaseService
    code_sync: CodeSync
    catalog: DropCatalog
    queue: QueueService
    refunds: Refunds
    waitlist: WaitlistService


class Sweeper:
    def __init__(self, redis: RedisClient, keys: Keys, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 interval_seconds: float, upkept: Upkept) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.catalog = upkept.catalog
        self.loader = upkept.loader
        self.orders = upkept.orders
        self.purchases = upkept.purchases
        self.code_sync = upkept.code_sync
        self.queue = upkept.queue
        self.refunds = upkept.refunds
        self.waitlist = upkept.waitlist
        self._last_check = 0.0

    async def run(self) -> None:
        await forever(self.step, log, pause=self.interval_seconds)

    async def step(self) -> int:
        if time.monotonic() - self._last_check > CHECK_EVERY_SECONDS:
            self._last_check = time.monotonic()
            try:
                await self.check_drops()
                await self.code_sync.drain()  # F-code changes a crashed worker left unwritten to SQL
                await self.refunds.work_jobs()  # operators' bulk refunds, a batch at a time
            except DATABASE_DOWN as exc:
                # Expiry goes on from Redis alone: reservations must come back on time in an outage.
                log.warning("drop check skipped, the database is unreachable (%s)", type(exc).__name__)
        members = await self.redis.smembers(self.keys.active_drops)
        expired = 0
        for member in members:
            expired += await self.orders.expire_due(int(member))
            await self.refunds.retry_late(int(member))
            await self.waitlist.offer(int(member))  # units that came back go to the waitlist first
            await self.queue.advance(int(member))  # waiting rooms admit even while nobody polls
        if expired:
            EXPIRED.inc(expired)
        await self.purchases.flush_local_counts()
        return expired

    async def check_drops(self) -> None:
        """Loads drops Redis does not know yet, and merges SQL back in where Redis has fewer orders
        than the database (a fresh, flushed or failed-over Redis)."""
        now = self.clock.now()
        seen = await self.catalog.version()  # before SQL: a change committed after it wins (see sync)
        async with self.sessions() as session:
            drops = await DropRepository(session).not_ended(now - RETIRE_AFTER)
            ids = [d.id for d in drops if d.id is not None]
            counts = await OrderRepository(session).count_by_drop(ids)
        await self.catalog.sync(drops, seen)  # drops made elsewhere (the console) reach the listings
        redis, keys = self.redis, self.keys
        async with redis.pipeline(transaction=False) as pipe:
            for drop_id in ids:
                pipe.hexists(keys.drop(drop_id).inv, "remaining")
                pipe.hlen(keys.drop(drop_id).orders)
            state = await pipe.execute()
        for i, drop in enumerate(drops):
            present, known = state[2 * i], int(state[2 * i + 1])
            assert drop.id is not None
            if not present:
                await self.loader.load(drop)
            elif known < counts.get(drop.id, 0):
                log.warning("drop %s: Redis knows %d orders, SQL %d: merging", drop.id, known, counts[drop.id])
                await self.loader.load(drop, merge=True)
        await self._retire(set(ids))

    async def _retire(self, current: set[int]) -> None:
        """Stops watching drops long ended whose reservations and events are all settled."""
        redis, keys = self.redis, self.keys
        for member in await redis.smembers(keys.active_drops):
            drop_id = int(member)
            if drop_id in current:
                continue
            k = keys.drop(drop_id)
            if await redis.zcard(k.deadlines) == 0 and await redis.xlen(k.stream) == 0:
                await redis.srem(keys.active_drops, member)
