"""Builds a worker's Runtime (engine, Redis, scripts) and its Services, and tears them down: used by
the web lifespan, `flashsale worker` and the console commands alike."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from accounts.repository import token_version_record
from app.wiring import Background, Services, background_loops, build_services
from core.clock import SYSTEM_CLOCK, Clock
from core.db import make_engine, make_sessionmaker
from core.embedded_redis import EmbeddedRedis
from core.keys import Keys
from core.redis import ScriptRegistry, connect_redis
from core.runtime import Runtime
from core.settings import Settings
from core.token_versions import TokenVersions
from core.token_versions import register_scripts as register_version_scripts
from core.tokens import TokenService
from core.work import BoundedWork


@asynccontextmanager
async def running(settings: Settings, *, background: bool, clock: Clock = SYSTEM_CLOCK) -> AsyncIterator[Services]:
    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        # Not started by `flashsale serve` (e.g. plain uvicorn): start the embedded server here.
        embedded = EmbeddedRedis(settings.var_dir / "redis")
        redis_url = await asyncio.to_thread(embedded.start)
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    redis, keys, scripts = await connect_redis(redis_url), Keys(settings.redis_prefix), ScriptRegistry()
    versions = TokenVersions(redis, keys, register_version_scripts(scripts), token_version_record(sessions), clock)
    runtime = Runtime(settings=settings, engine=engine, sessions=sessions, redis=redis, keys=keys,
                      scripts=scripts, tokens=TokenService(settings), versions=versions,
                      passwords=BoundedWork(settings.password_hash_concurrency, settings.password_hash_queue),
                      clock=clock)
    loops: Background | None = None
    services: Services | None = None
    try:
        services = await build_services(runtime)
        if background:
            loops = background_loops(services)
        yield services
    finally:
        if loops is not None:
            # In-flight requests have finished (uvicorn stops them first): what they streamed is
            # written to SQL before the worker goes.
            await loops.stop(settings.shutdown_drain_seconds)
        if services is not None:
            for provider in services.payments.providers.values():
                await provider.aclose()
            await services.images.store.aclose()
        await runtime.redis.aclose()
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
