"""Whether the database and Redis answer, each within PROBE_SECONDS: what /healthz reports and what
/metrics exposes as `flashsale_database_up` and `flashsale_redis_up`."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from sqlalchemy import text

from core.runtime import Runtime

PROBE_SECONDS = 2.0


async def _within(check: Awaitable[bool], seconds: float) -> bool:
    try:
        return await asyncio.wait_for(check, timeout=seconds)
    except Exception:
        return False


async def _database(runtime: Runtime) -> bool:
    async with runtime.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return True


async def _redis(runtime: Runtime) -> bool:
    return bool(await runtime.redis.ping())


async def database_up(runtime: Runtime, seconds: float = PROBE_SECONDS) -> bool:
    """SELECT 1 answers, and the order sink's last write did not fail: a database that answers reads
    but refuses writes (locked, read-only, failing over) is down for the sale all the same."""
    return await _within(_database(runtime), seconds) and not runtime.database_writes.failing


async def redis_up(runtime: Runtime, seconds: float = PROBE_SECONDS) -> bool:
    return await _within(_redis(runtime), seconds)
