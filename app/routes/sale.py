"""Drops, buying and orders. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.routing import Route

from app.deps import CurrentUser, OperatorUser, RuntimeDep, SessionDep, client_address
from sale.exceptions import parse_drop_id
from sale.orders import OrderService
from sale.schemas import DropCreate, DropOut, OrderOut, PayIn, PurchaseIn, StatsOut
from sale.service import SaleService

router = APIRouter(prefix="/api", tags=["drops"])


def _drop_id(drop_id: str) -> int:
    return parse_drop_id(drop_id)


DropId = Annotated[int, Depends(_drop_id)]
JSON = "application/json"


def _sale(runtime: RuntimeDep) -> SaleService:
    service: SaleService = runtime.services["sale"]
    return service


def _orders(runtime: RuntimeDep) -> OrderService:
    service: OrderService = runtime.services["orders"]
    return service


@router.post("/admin/drops", status_code=201, response_model=DropOut)
async def create_drop(body: DropCreate, _: OperatorUser, runtime: RuntimeDep) -> DropOut:
    return await _sale(runtime).create_drop(body)


@router.get("/drops", response_model=list[DropOut])
async def list_drops(runtime: RuntimeDep) -> list[DropOut]:
    return await _sale(runtime).list_drops()


@router.get("/drops/{drop_id}", response_model=DropOut)
async def get_drop(drop_id: DropId, runtime: RuntimeDep) -> DropOut:
    return await _sale(runtime).get_drop(drop_id)


@router.get("/admin/drops/{drop_id}/stats", response_model=StatsOut)
async def drop_stats(drop_id: DropId, _: OperatorUser, runtime: RuntimeDep) -> StatsOut:
    return await _sale(runtime).stats(drop_id)


@router.get("/admin/drops/{drop_id}/events", response_class=StreamingResponse)
async def drop_events(drop_id: DropId, _: OperatorUser, runtime: RuntimeDep) -> StreamingResponse:
    """Server-Sent Events: the drop's stats about once a second, for the operator's dashboard."""
    sale = _sale(runtime)
    await sale.load_by_id(drop_id)
    return StreamingResponse(sale.stats_events(drop_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def purchase_endpoint(request: Request) -> Response:
    """The hot path, mounted as a plain Starlette route ahead of all others (see `mount_purchase`):
    raw body, cached token check, bytes out; no dependency machinery, no database."""
    headers = request.headers
    cookie = request.cookies.get("fs_ref") if "cookie" in headers else None
    status, content = await request.app.state.runtime.services["sale"].purchase(
        request.path_params["drop_id"], headers.get("authorization"), await request.body(),
        headers.get("idempotency-key"), cookie, client_address(request))
    return Response(content, status_code=status, media_type=JSON)


PURCHASE_PATH = "/api/drops/{drop_id}/purchase"


def mount_purchase(app: FastAPI) -> None:
    app.router.routes.insert(0, Route(PURCHASE_PATH, purchase_endpoint, methods=["POST"]))


@router.post("/drops/{drop_id}/purchase", status_code=201, response_model=OrderOut,
             openapi_extra={"requestBody": {"content": {JSON: {"schema": PurchaseIn.model_json_schema()}},
                                            "required": False}},
             responses={403: {"description": "not_open or fcode_invalid"}, 404: {"description": "drop_not_found"},
                        409: {"description": "sold_out or limit_reached"}, 422: {"description": "bad body"},
                        429: {"description": "rate_limited"}})
async def purchase(drop_id: str, request: Request) -> Response:
    """Reserve units (documentation entry: requests are served by `purchase_endpoint`)."""
    return await purchase_endpoint(request)


@router.get("/orders", response_model=list[OrderOut], tags=["orders"])
async def list_orders(claims: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Response:
    return Response(await _orders(runtime).list_for(session, claims), media_type=JSON)


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
async def get_order(order_id: str, claims: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Response:
    return Response(await _orders(runtime).get(session, claims, order_id), media_type=JSON)


@router.post("/orders/{order_id}/pay", response_model=OrderOut, tags=["orders"])
async def pay_order(order_id: str, body: PayIn, claims: CurrentUser, runtime: RuntimeDep) -> Response:
    """Redis and the payment provider only: the sink writes the paid state and the share link."""
    return Response(await _orders(runtime).pay(claims, order_id, body.payment_token), media_type=JSON)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"])
async def cancel_order(order_id: str, claims: CurrentUser, session: SessionDep, runtime: RuntimeDep) -> Response:
    return Response(await _orders(runtime).cancel(session, claims, order_id), media_type=JSON)
