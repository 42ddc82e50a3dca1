"""The `/_fake/deliveries` endpoints both fakes share: read the delivery figures, set the chaos, zero
the figures, wait for deliveries under way. For tests and the load test; never part of a provider's API."""
from __future__ import annotations

import json
import math

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fakes.delivery import Deliverer

MAX_DRAIN_SECONDS = 600.0


async def json_object(request: Request) -> dict[str, object]:
    """The request's JSON object body ({} when empty); ValueError when it is not one."""
    raw = await request.body()
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def delivery_routes(deliverer: Deliverer) -> list[Route]:
    async def show(_request: Request) -> JSONResponse:
        return JSONResponse({"chaos": deliverer.chaos.as_json(), "stats": deliverer.stats()})

    async def chaos(request: Request) -> JSONResponse:
        try:
            changes = await json_object(request)
            deliverer.configure(changes)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"chaos": deliverer.chaos.as_json()})

    async def reset(_request: Request) -> JSONResponse:
        deliverer.reset_stats()
        return JSONResponse({"stats": deliverer.stats()})

    async def drain(request: Request) -> JSONResponse:
        try:
            timeout = float(request.query_params.get("timeout", "30"))
        except ValueError:
            timeout = math.nan
        if not 0 <= timeout <= MAX_DRAIN_SECONDS:
            return JSONResponse({"error": f"timeout must be 0-{MAX_DRAIN_SECONDS:g} seconds"}, status_code=400)
        drained = await deliverer.drain(timeout)
        return JSONResponse({"drained": drained, "stats": deliverer.stats()})

    return [Route("/_fake/deliveries", show, methods=["GET"]),
            Route("/_fake/deliveries/chaos", chaos, methods=["POST"]),
            Route("/_fake/deliveries/reset", reset, methods=["POST"]),
            Route("/_fake/deliveries/drain", drain, methods=["POST"])]
