"""After a Redis failover (or a restart from disk) a drop's state may lack the last acknowledged
writes: Redis replication is asynchronous. purchase.lua notices (the state carries the run_id of the
server process that built it) and refuses with "fenced"; this pauses the drop, lets the order sinks
commit what they read from the old primary, merges SQL back in (load.lua stamps the new run_id), and
so resumes it. Until then buyers get 503 with Retry-After."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Iterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.keys import Keys
from core.metrics import FAILOVER_REBUILDS
from core.redis import LuaScript, RedisClient
from sale.inventory import DropFenced
from sale.loader import DropLoader
from sale.models import Drop
from sale.repository import DropRepository

log = logging.getLogger("flashsale.failover")


class FailoverRebuild:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: RedisClient, keys: Keys,
                 loader: DropLoader, unlock: LuaScript, settle_seconds: float) -> None:
        self.sessions = sessions
        self.redis = redis
        self.keys = keys
        self.settle_seconds = settle_seconds  # the pause that lets the sinks commit what they read
        self.loader = loader
        self._unlock = unlock
        self._running: dict[int, asyncio.Task[None]] = {}

    @property
    def retry_after(self) -> int:
        """Seconds a buyer should wait: the pause plus the merge."""
        return math.ceil(self.settle_seconds) + 1

    @contextlib.contextmanager
    def rebuilds_when_fenced(self, drop_id: int) -> Iterator[None]:
        """Around a drop script call: a fenced answer (DropFenced, a 503) starts the rebuild."""
        try:
            yield
        except DropFenced:
            self.rebuild_soon(drop_id)
            raise

    def rebuild_soon(self, drop_id: int) -> None:
        """Starts the rebuild in the background (once per process and drop at a time)."""
        if drop_id not in self._running:
            task = asyncio.create_task(self._rebuild(drop_id), name=f"rebuild-drop-{drop_id}")
            self._running[drop_id] = task
            task.add_done_callback(lambda _: self._running.pop(drop_id, None))

    async def _rebuild(self, drop_id: int) -> None:
        """One process across all app nodes does it: a lock key in the drop's slot."""
        settle = self.settle_seconds
        redis, key = self.redis, self.keys.drop(drop_id).rebuild
        token = secrets.token_hex(8)
        try:
            if not await redis.set(key, token, nx=True, px=int((settle + 15) * 1000)):
                return
            try:
                await asyncio.sleep(settle)
                async with self.sessions() as session:
                    drop: Drop | None = await DropRepository(session).get(drop_id)
                if drop is not None:
                    await self.loader.load(drop, merge=True)
                    FAILOVER_REBUILDS.inc()
                    log.warning("drop %s: Redis changed server process (failover or restart): SQL merged back in",
                                drop_id)
            finally:
                # Compare-and-delete in one script: a lock that expired and was taken by another
                # process meanwhile is not ours to delete.
                await self._unlock(redis, (key,), (token,))
        except Exception:  # the next fenced purchase starts it again
            log.exception("drop %s: rebuild after failover failed", drop_id)
