from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from app.deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"description": "Redis or the database does not answer",
                                         "content": {"application/json": {}}}})
async def healthz(runtime: RuntimeDep) -> Response:
    async def database() -> bool:
        try:
            async with runtime.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def redis() -> bool:
        try:
            return bool(await runtime.redis.ping())
        except Exception:
            return False

    try:
        db_ok, redis_ok = await asyncio.wait_for(asyncio.gather(database(), redis()), timeout=3)
    except TimeoutError:
        db_ok = redis_ok = False
    checks = {"database": "ok" if db_ok else "down", "redis": "ok" if redis_ok else "down"}
    if db_ok and redis_ok:
        return Response(orjson.dumps({"status": "ok", **checks}), media_type="application/json")
    return Response(orjson.dumps({"status": "unavailable", **checks}), status_code=503,
                    media_type="application/json")
