"""Drops and orders. Thin: dependencies in, one service call, result out. (The purchase: purchase.py.)

The calls a rush makes by the thousand (the drop list and page every waiting buyer polls, the payment)
are plain routes (app/routes/plain.py), documented like the others: `hot_routes()`."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.deps import (
    CurrentUser,
    DropsDep,
    OperatorActor,
    OperatorUser,
    OrdersDep,
    RuntimeDep,
    SessionDep,
    services_of,
)
from app.problems import problems
from app.routes.plain import JSON, PlainRoute, json_body, json_body_schema, path_parameter
from core.errors import DomainError
from core.runtime import Runtime
from core.tokens import Claims
from sale.exceptions import parse_drop_id
from sale.schemas import DropCreate, DropOut, OrderOut, PayIn, StatsOut

router = APIRouter(prefix="/api", tags=["drops"])


async def _drop_id(drop_id: str) -> int:  # async: a plain def would run in the thread pool
    return parse_drop_id(drop_id)


DropId = Annotated[int, Depends(_drop_id)]


@router.post("/admin/drops", status_code=201, response_model=DropOut,
             responses=problems("unauthorized", "forbidden", "validation_error", "service_unavailable"))
async def create_drop(body: DropCreate, actor: OperatorActor, drops: DropsDep) -> DropOut:
    return await drops.create_drop(body, actor)


@router.get("/admin/drops/{drop_id}/stats", response_model=StatsOut,
            responses=problems("unauthorized", "forbidden", "drop_not_found"))
async def drop_stats(drop_id: DropId, _: OperatorUser, drops: DropsDep) -> StatsOut:
    return await drops.stats(drop_id)


@router.get("/admin/drops/{drop_id}/events", response_class=StreamingResponse,
            responses={200: {"description": "`data: <stats JSON>` events, about one a second",
                             "content": {"text/event-stream": {"schema": {
                                 "type": "object", "required": ["data"],
                                 "properties": {"data": {"type": "string", "contentMediaType": JSON}}}}}},
                       **problems("unauthorized", "forbidden", "drop_not_found")})
async def drop_events(drop_id: DropId, claims: OperatorUser, drops: DropsDep,
                      runtime: RuntimeDep) -> StreamingResponse:
    """Server-Sent Events: the drop's stats about once a second, for the operator's dashboard; the
    stream ends within a second of the token being revoked (a role change) or expiring."""
    events = while_signed_in(await drops.open_events(drop_id), claims, runtime)
    return StreamingResponse(events, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def while_signed_in(events: AsyncIterator[bytes], claims: Claims, runtime: Runtime) -> AsyncIterator[bytes]:
    """`events`, each sent only while the operator's token still holds: checked before every event
    (about one a second, one Redis read), so a demoted or signed-out operator's stream ends."""
    async for event in events:
        if claims.exp <= runtime.clock.now_ms() / 1000:
            return
        try:
            await runtime.versions.check(claims)
        except DomainError:
            return
        yield event


@router.get("/orders", response_model=list[OrderOut], tags=["orders"], responses=problems("unauthorized"))
async def list_orders(claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.list_for(session, claims), media_type=JSON)


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"],
            responses=problems("unauthorized", "order_not_found"))
async def get_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.get(session, claims, order_id), media_type=JSON)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"],
             responses=problems("unauthorized", "order_not_found", "order_expired", "order_not_cancellable",
                                "payment_in_progress"))
async def cancel_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.cancel(session, claims, order_id), media_type=JSON)


async def list_drops(request: Request) -> Response:
    """From the drop catalog in Redis: no SQL per poll, and it keeps working while the database is away."""
    return Response(await services_of(request).drops.list_drops(), media_type=JSON)


async def get_drop(request: Request) -> Response:
    """A drop with its live `remaining` and `phase`, from the catalog and the drop's counters in Redis."""
    drop_id = parse_drop_id(request.path_params["drop_id"])
    return Response(await services_of(request).drops.drop_json(drop_id), media_type=JSON)


async def pay_order(request: Request) -> Response:
    """Redis and the payment provider only: the sink writes the paid state and the share link."""
    services = services_of(request)
    runtime = services.runtime
    claims = runtime.tokens.from_header(request.headers.get("authorization"))

    async def check_token() -> Claims:  # the account-wide token version (pay_hold.lua checks the drop's)
        return await runtime.versions.check(claims)

    try:
        body = json_body(PayIn, await request.body())
    except RequestValidationError:
        await check_token()  # a revoked token is a 401 whatever its body
        raise
    order = await services.orders.pay(claims, request.path_params["order_id"], body.payment_token or "",
                                      check_token, body.provider_name, body.address_id)
    return Response(order, media_type=JSON)


def hot_routes() -> list[APIRoute]:
    return [
        PlainRoute("/api/drops", list_drops, methods=["GET"], response_model=list[DropOut], tags=["drops"]),
        PlainRoute("/api/drops/{drop_id}", get_drop, methods=["GET"], response_model=DropOut, tags=["drops"],
                   responses=problems("drop_not_found"),
                   openapi_extra={"parameters": [path_parameter("drop_id")]}),
        PlainRoute("/api/orders/{order_id}/pay", pay_order, methods=["POST"], response_model=OrderOut,
                   tags=["orders"],
                   responses=problems("unauthorized", "order_not_found", "order_expired", "order_cancelled",
                                      "payment_in_progress", "payment_declined", "validation_error",
                                      "payment_provider_unavailable", "order_refunded",
                                      "address_required", "address_not_found"),
                   openapi_extra={"parameters": [path_parameter("order_id")],
                                  "requestBody": json_body_schema(PayIn)}),
    ]
