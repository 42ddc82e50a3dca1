"""Drops and orders. Thin: dependencies in, one service call, result out. (The purchase: purchase.py.)"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from app.deps import CurrentUser, DropsDep, OperatorUser, OrdersDep, SessionDep
from sale.exceptions import parse_drop_id
from sale.schemas import DropCreate, DropOut, OrderOut, PayIn, StatsOut

router = APIRouter(prefix="/api", tags=["drops"])


def _drop_id(drop_id: str) -> int:
    return parse_drop_id(drop_id)


DropId = Annotated[int, Depends(_drop_id)]
JSON = "application/json"


@router.post("/admin/drops", status_code=201, response_model=DropOut)
async def create_drop(body: DropCreate, _: OperatorUser, session: SessionDep, drops: DropsDep) -> DropOut:
    return await drops.create_drop(session, body)


@router.get("/drops", response_model=list[DropOut])
async def list_drops(session: SessionDep, drops: DropsDep) -> list[DropOut]:
    return await drops.list_drops(session)


@router.get("/drops/{drop_id}", response_model=DropOut)
async def get_drop(drop_id: DropId, session: SessionDep, drops: DropsDep) -> DropOut:
    return await drops.get_drop(session, drop_id)


@router.get("/admin/drops/{drop_id}/stats", response_model=StatsOut)
async def drop_stats(drop_id: DropId, _: OperatorUser, session: SessionDep, drops: DropsDep) -> StatsOut:
    return await drops.stats(session, drop_id)


@router.get("/admin/drops/{drop_id}/events", response_class=StreamingResponse)
async def drop_events(drop_id: DropId, _: OperatorUser, drops: DropsDep) -> StreamingResponse:
    """Server-Sent Events: the drop's stats about once a second, for the operator's dashboard."""
    return StreamingResponse(await drops.open_events(drop_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.get("/orders", response_model=list[OrderOut], tags=["orders"])
async def list_orders(claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.list_for(session, claims), media_type=JSON)


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
async def get_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.get(session, claims, order_id), media_type=JSON)


@router.post("/orders/{order_id}/pay", response_model=OrderOut, tags=["orders"])
async def pay_order(order_id: str, body: PayIn, claims: CurrentUser, session: SessionDep,
                    orders: OrdersDep) -> Response:
    return Response(await orders.pay(session, claims, order_id, body.payment_token), media_type=JSON)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"])
async def cancel_order(order_id: str, claims: CurrentUser, session: SessionDep, orders: OrdersDep) -> Response:
    return Response(await orders.cancel(session, claims, order_id), media_type=JSON)
