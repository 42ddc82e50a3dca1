"""After a Redis failover (or a restart from disk) a drop's state may lack the last acknowledged
writes: Redis replication is asynchronous. purchase.lua notices (the state carries the run_id of the
server process that built it) and refuses with "fenced"; this pauses the drop, lets the order sinks
commit what they read from the old primary, merges SQL back in (load.lua stamps the new run_id), and
so resumes it. Until then buyers get 503 with Retry-After."""
from __future__ import annotations

import asyncio
import logging
import math
import secrets

from core.metrics import FAILOVER_REBUILDS
from core.redis import LuaScript
from core.runtime import Runtime
from sale.loader import DropLoader
from sale.models import Drop
from sale.repository import DropRepository

log = logging.getLogger("flashsale.failover")


class FailoverRebuild:
    def __init__(self, runtime: Runtime, loader: DropLoader, unlock: LuaScript) -> None:
        self.runtime = runtime
        self.loader = loader
        self._unlock = unlock
        self._running: dict[int, asyncio.Task[None]] = {}

    @property
    def retry_after(self) -> int:
        """Seconds a buyer should wait: the pause plus the merge."""
        return math.ceil(self.runtime.settings.failover_settle_seconds) + 1

    def rebuild_soon(self, drop_id: int) -> None:
        """Starts the rebuild in the background (once per process and drop at a time)."""
        if drop_id not in self._running:
            task = asyncio.create_task(self._rebuild(drop_id), name=f"rebuild-drop-{drop_id}")
            self._running[drop_id] = task
            task.add_done_callback(lambda _: self._running.pop(drop_id, None))

    async def _rebuild(self, drop_id: int) -> None:
        """One process across all app nodes does it: a lock key in the drop's slot."""
        settle = self.runtime.settings.failover_settle_seconds
        redis, key = self.runtime.redis, self.runtime.keys.drop(drop_id).rebuild
        token = secrets.token_hex(8)
        try:
            if not await redis.set(key, token, nx=True, px=int((settle + 15) * 1000)):
                return
            try:
                await asyncio.sleep(settle)
                async with self.runtime.sessions() as session:
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
