"""Builds a worker's Runtime (engine, Redis, scripts) and its Services, and tears them down: used by
the web lifespan, `flashsale worker` and the console commands alike."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.wiring import Services, background_loops, build_services
from core.db import make_engine, make_sessionmaker
from core.embedded_redis import EmbeddedRedis
from core.keys import Keys
from core.redis import ScriptRegistry, connect_redis
from core.runtime import Runtime
from core.settings import Settings
from core.tokens import TokenService


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancels the background loops and waits for them. A cancel can be swallowed when it races a
    library's own wake-up (asyncio.Condition in the Redis pool, Python 3.11): such a loop would go on
    forever, so it is cancelled again until it ends."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()


@asynccontextmanager
async def running(settings: Settings, *, background: bool) -> AsyncIterator[Services]:
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        # Not started by `flashsale serve` (e.g. plain uvicorn): start the embedded server here.
        embedded = EmbeddedRedis(settings.var_dir / "redis")
        redis_url = await asyncio.to_thread(embedded.start)
    engine = make_engine(settings)
    runtime = Runtime(settings=settings, engine=engine, sessions=make_sessionmaker(engine),
                      redis=await connect_redis(redis_url), keys=Keys(settings.redis_prefix),
                      scripts=ScriptRegistry(), tokens=TokenService(settings))
    tasks: list[asyncio.Task[None]] = []
    try:
        services = await build_services(runtime)
        if background:
            tasks = background_loops(services)
        yield services
    finally:
        await _cancel_all(tasks)
        await runtime.redis.aclose()
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
