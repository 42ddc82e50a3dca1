"""Payments: the providers' signed notices, the storefront's list of payment methods, and operators'
refunds. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.deps import OperatorActor, PaymentsDep, RefundsDep, SettingsDep
from app.problems import problems
from app.routes.plain import JSON
from sale.exceptions import parse_drop_id
from sale.schemas import OrderOut, RefundJobOut

router = APIRouter(prefix="/api", tags=["payments"])
NOTICE = {"description": "recorded (Stripe: `{\"received\": true}`; Alipay: `success`)",
          "content": {"application/json": {}, "text/plain": {}}}


class ProvidersOut(BaseModel):
    providers: list[str]
    stripe_publishable_key: str | None = None


class BulkRefundIn(BaseModel):
    status: Literal["paid"] = "paid"


@router.get("/payments/providers", response_model=ProvidersOut)
async def payment_providers(payments: PaymentsDep, settings: SettingsDep) -> ProvidersOut:
    """The payment methods this store offers (the test card only outside production)."""
    offered = payments.offered()
    test = [] if settings.env == "production" else ["test"]
    return ProvidersOut(providers=test + offered,
                        stripe_publishable_key=settings.stripe_publishable_key if "stripe" in offered else None)


@router.post("/payments/stripe/webhook", responses={200: NOTICE, **problems("bad_signature", "not_found")})
async def stripe_webhook(request: Request, payments: PaymentsDep) -> Response:
    ack = await payments.notice("stripe", await request.body(), request.headers.get("stripe-signature"))
    return Response(ack.body, media_type=ack.media_type)


@router.post("/payments/alipay/notify", responses={200: NOTICE, **problems("bad_signature", "not_found")})
async def alipay_notify(request: Request, payments: PaymentsDep) -> Response:
    ack = await payments.notice("alipay", await request.body(), None)
    return Response(ack.body, media_type=ack.media_type)


@router.post("/admin/orders/{order_id}/refund", response_model=OrderOut,
             responses=problems("unauthorized", "forbidden", "order_not_found", "order_not_refundable",
                                "payment_provider_unavailable"))
async def refund_order(order_id: str, actor: OperatorActor, refunds: RefundsDep) -> Response:
    return Response((await refunds.refund_order(order_id, actor)).api_bytes(), media_type=JSON)


@router.post("/admin/drops/{drop_id}/refunds", status_code=202, response_model=RefundJobOut,
             responses=problems("unauthorized", "forbidden", "drop_not_found", "validation_error"))
async def refund_drop(drop_id: str, actor: OperatorActor, refunds: RefundsDep,
                      body: Annotated[BulkRefundIn | None, Body()] = None) -> RefundJobOut:
    return RefundJobOut(orders=await refunds.request_bulk(parse_drop_id(drop_id), actor))
