"""The yardstick for the purchase path: a bare FastAPI endpoint that makes one Lua call.

Served by uvicorn with the same loop, HTTP parser, worker count and Redis as `flashsale serve`,
so the ratio of the two measures what the real purchase path adds.
"""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import Response

from core.redis import LuaScript, connect_redis

ONE_CALL = LuaScript("bare", "return redis.call('HINCRBY', KEYS[1], 'calls', 1)")


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = await connect_redis(os.environ["BENCH_REDIS_URL"])
        await ONE_CALL.load(redis)
        app.state.redis = redis
        yield
        await redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/bare")
    async def bare() -> Response:
        calls = await ONE_CALL(app.state.redis, ("bench:{bare}:calls",), ())
        return Response(b'{"calls":%d}' % int(calls), status_code=201, media_type="application/json")

    return app
