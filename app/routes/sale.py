"""Drops and orders. Thin: dependencies in, one service call, result out. (The purchase: purchase.py.)"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from app.deps import CurrentUser, DropsDep, OperatorUser, OrdersDep, SessionDep
from app.problems import problems
from sale.exceptions import parse_drop_id
from sale.schemas import DropCreate, DropOut, OrderOut, PayIn, StatsOut

router = APIRouter(prefix="/api", tags=["drops"])


def _drop_id(drop_id: str) -> int:
    return parse_drop_id(drop_id)


DropId = Annotated[int, Depends(_drop_id)]
JSON = "application/json"


@router.post("/admin/drops", status_code=201, response_model=DropOut,
             responses=problems("unauthorized", "forbidden", "validation_error", "service_unavailable"))
async def create_drop(body: DropCreate, _: OperatorUser, drops: DropsDep) -> DropOut:
    return await drops.create_drop(body)


@router.get("/drops", response_model=list[DropOut])
async def list_drops(drops: DropsDep) -> Response:
    """From the drop catalog in Redis: no SQL per poll, and it keeps working while the database is away."""
    return Response(await drops.list_drops(), media_type=JSON)


@router.get("/drops/{drop_id}", response_model=DropOut, responses=problems("drop_not_found"))
async def get_drop(drop_id: DropId, drops: DropsDep) -> Response:
    return Response(await drops.drop_json(drop_id), media_type=JSON)


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
async def drop_events(drop_id: DropId, _: OperatorUser, drops: DropsDep) -> StreamingResponse:
    """Server-Sent Events: the drop's stats about once a second, for the operator's dashboard."""
    return StreamingResponse(await drops.open_events(drop_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/orders", response_model=list[OrderOut], tags=["orders"], responses=problems("unauthorized"))
async def list_orders(claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.list_for(session, claims), media_type=JSON)


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"],
            responses=problems("unauthorized", "order_not_found"))
async def get_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.get(session, claims, order_id), media_type=JSON)


@router.post("/orders/{order_id}/pay", response_model=OrderOut, tags=["orders"],
             responses=problems("unauthorized", "order_not_found", "order_expired", "order_cancelled",
                                "payment_in_progress", "payment_declined", "validation_error"))
async def pay_order(order_id: str, body: PayIn, claims: CurrentUser, orders: OrdersDep) -> Response:
    """Redis and the payment provider only: the sink writes the paid state and the share link."""
    return Response(await orders.pay(claims, order_id, body.payment_token), media_type=JSON)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"],
             responses=problems("unauthorized", "order_not_found", "order_expired", "order_not_cancellable",
                                "payment_in_progress"))
async def cancel_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.cancel(session, claims, order_id), media_type=JSON)
