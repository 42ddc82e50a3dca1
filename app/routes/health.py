"""GET /healthz: Redis carries the sale, so only a Redis that does not answer makes the service
unhealthy (503); a database that does not answer leaves it `degraded` (200): buyers still purchase
and pay, and the order sink writes their orders once the database is back."""
from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter
from sqlalchemy import text
from starlette.responses import Response

from app.deps import RuntimeDep

router = APIRouter(tags=["operations"])
PROBE_SECONDS = 2.0


@router.get("/healthz", responses={503: {"description": "Redis or the database does not answer",
                                         "content": {"application/json": {}}}})
async def healthz(runtime: RuntimeDep) -> Response:
    async def database() -> bool:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def redis() -> bool:
        return bool(await runtime.redis.ping())

    async def probe(check: asyncio.Task[bool]) -> bool:
        try:
            return await asyncio.wait_for(check, timeout=PROBE_SECONDS)
        except Exception:
            return False

    db_ok, redis_ok = await asyncio.gather(probe(asyncio.ensure_future(database())),
                                           probe(asyncio.ensure_future(redis())))
    # A database that answers SELECT 1 but refuses the sink's writes (locked, read-only) is down too.
    db_ok = db_ok and not runtime.database_writes.failing
    checks = {"database": "ok" if db_ok else "down", "redis": "ok" if redis_ok else "down"}
    if not redis_ok:
        return Response(orjson.dumps({"status": "unavailable", **checks}), status_code=503,
                        media_type="application/json", headers={"Retry-After": "2"})
    return Response(orjson.dumps({"status": "ok" if db_ok else "degraded", **checks}),
                    media_type="application/json")
