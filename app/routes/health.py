"""GET /healthz: Redis carries the sale, so only a Redis that does not answer makes the service
unhealthy (503); a database that does not answer leaves it `degraded` (200): buyers still purchase
and pay, and the order sink writes their orders once the database is back."""
from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.deps import RuntimeDep
from app.probes import database_up, redis_up

router = APIRouter(tags=["operations"])


@router.get("/healthz", responses={503: {"description": "Redis or the database does not answer",
                                         "content": {"application/json": {}}}})
async def healthz(runtime: RuntimeDep) -> Response:
    db_ok, redis_ok = await asyncio.gather(database_up(runtime), redis_up(runtime))
    checks = {"database": "ok" if db_ok else "down", "redis": "ok" if redis_ok else "down"}
    if not redis_ok:
        return Response(orjson.dumps({"status": "unavailable", **checks}), status_code=503,
                        media_type="application/json", headers={"Retry-After": "2"})
    return Response(orjson.dumps({"status": "ok" if db_ok else "degraded", **checks}),
                    media_type="application/json")
