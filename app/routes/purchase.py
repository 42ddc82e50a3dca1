"""POST /api/drops/{drop_id}/purchase: the hot path, one route.

The route is declared like any FastAPI route, so the OpenAPI document describes it from here, but it
is served as a plain Starlette endpoint: the raw body parsed once with orjson, the cached token check,
bytes out; no dependency machinery, no response validation. It parses the HTTP request into values
and makes one call into the purchase service, which never sees headers or bodies.
"""
from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.deps import client_key, services_of
from app.problems import problems
from app.routes.plain import JSON, PlainRoute, path_parameter
from core.errors import ValidationFailed
from sale.exceptions import VariantNotFound, parse_drop_id
from sale.purchase_script import PurchaseRequest
from sale.schemas import OrderOut, PurchaseIn
from sale.share.referral import COOKIE_NAME

PURCHASE_PATH = "/api/drops/{drop_id}/purchase"
MAX_QUANTITY = 1_000_000
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_purchase(body: bytes) -> tuple[int, str, str, str]:
    """quantity, F-code, ref, variant from the raw body; anything malformed is a 422 problem (a variant
    no drop could have is 404 variant_not_found: only SKU-shaped names ever reach purchase.lua)."""
    if not body.strip():
        return 1, "", "", ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("The body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object")
    unknown = set(data) - {"quantity", "fcode", "ref", "variant"}
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))[:200]}")
    quantity = data.get("quantity", 1)
    if isinstance(quantity, float) and quantity.is_integer() and abs(quantity) <= MAX_QUANTITY:
        quantity = int(quantity)  # 1.0 is the integer 1 to JSON (and to JSON Schema)
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed("quantity must be a whole number of at least 1",
                               extra={"errors": [{"loc": ["body", "quantity"], "msg": "must be an integer >= 1"}]})
    fcode, ref = data.get("fcode") or "", data.get("ref") or ""
    if not isinstance(fcode, str) or len(fcode) > 64:
        raise ValidationFailed("fcode must be a string of at most 64 characters")
    if not isinstance(ref, str) or len(ref) > 128:
        raise ValidationFailed("ref must be a string of at most 128 characters")
    variant = data.get("variant") or ""
    if not isinstance(variant, str):
        raise ValidationFailed("variant must be a string (the variant's sku)")
    if variant and not _SKU.fullmatch(variant):
        raise VariantNotFound()
    return quantity, fcode, ref, variant


def parse_idempotency_key(value: str | None) -> str | None:
    if value is not None and not (0 < len(value) <= 200 and value.isprintable()):
        raise ValidationFailed("Idempotency-Key must be 1 to 200 printable characters")
    return value


async def purchase(request: Request) -> Response:
    """Reserve units of a drop (answers the order, `reserved`, with its `pay_by`)."""
    services = services_of(request)
    headers = request.headers
    claims = services.runtime.tokens.from_header(headers.get("authorization"))
    drop_id = parse_drop_id(request.path_params["drop_id"])
    quantity, fcode, ref, variant = parse_purchase(await request.body())
    key = parse_idempotency_key(headers.get("idempotency-key"))
    order = await services.purchases.purchase(PurchaseRequest(
        drop_id, claims.user_id, quantity, claims.ver, fcode=fcode, ref=ref,
        ref_cookie=request.cookies.get(COOKIE_NAME) if "cookie" in headers else None,
        idempotency_key=key, client=client_key(request), variant=variant))
    return Response(order, status_code=201, media_type=JSON)


_OPENAPI: dict[str, Any] = {
    "parameters": [
        path_parameter("drop_id"),
        {"name": "Idempotency-Key", "in": "header", "required": False,
         "description": "Makes the purchase safe to retry: the same key answers the same order again",
         "schema": {"type": "string", "maxLength": 200}},
    ],
    "requestBody": {"content": {JSON: {"schema": PurchaseIn.model_json_schema()}}, "required": False},
}
_RESPONSES = problems("unauthorized", "not_open", "fcode_invalid", "drop_not_found", "sold_out", "limit_reached",
                      "address_limit", "validation_error", "idempotency_key_reused", "rate_limited", "not_admitted",
                      "variant_required", "variant_not_found", "not_a_winner")


def purchase_route() -> APIRoute:
    return PlainRoute(PURCHASE_PATH, purchase, methods=["POST"], status_code=201, response_model=OrderOut,
                      tags=["drops"], summary="Reserve units", responses=_RESPONSES, openapi_extra=_OPENAPI)
