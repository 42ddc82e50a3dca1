"""Builds a worker's Runtime (engine, Redis, scripts, services) and tears it down: used by the web
lifespan, `flashsale worker` and the console commands alike."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from core.db import make_engine, make_sessionmaker
from core.embedded_redis import EmbeddedRedis
from core.keys import Keys
from core.redis import ScriptRegistry, make_redis
from core.runtime import Runtime
from core.settings import Settings
from core.tokens import TokenService

if TYPE_CHECKING:
    from sale.wiring import Background


async def start_domains(runtime: Runtime, background: bool) -> Background | None:
    """The sale first (it owns the purchase path), then the features that plug into it."""
    from codes.wiring import setup_codes
    from sale.share.wiring import setup_share
    from sale.wiring import background_loops, setup_sale

    await setup_sale(runtime)
    await setup_codes(runtime)
    await setup_share(runtime)
    return background_loops(runtime) if background else None


@asynccontextmanager
async def running(settings: Settings, *, background: bool) -> AsyncIterator[Runtime]:
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        # Not started by `flashsale serve` (e.g. plain uvicorn): start the embedded server here.
        embedded = EmbeddedRedis(settings.var_dir / "redis")
        redis_url = await asyncio.to_thread(embedded.start)
    engine = make_engine(settings)
    runtime = Runtime(settings=settings, engine=engine, sessions=make_sessionmaker(engine),
                      redis=make_redis(redis_url), keys=Keys(settings.redis_prefix),
                      scripts=ScriptRegistry(), tokens=TokenService(settings))
    loops: Background | None = None
    try:
        loops = await start_domains(runtime, background)
        yield runtime
    finally:
        if loops is not None:
            # In-flight requests have finished (uvicorn stops them first): what they streamed is
            # written to SQL before the worker goes.
            await loops.stop(settings.shutdown_drain_seconds)
        await runtime.redis.aclose()
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
