"""Draws: entering, withdrawing, one's entry; the public draw, its entry ids and results, and the
script that checks them. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

import re
from importlib import resources

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from starlette.responses import Response

from app.deps import CurrentUser, DrawOperatorDep, DrawsDep, OperatorActor, OperatorUser, client_key, services_of
from app.problems import problems
from app.routes.plain import JSON, PlainRoute, path_parameter
from app.routes.sale import DropId
from core.errors import ValidationFailed
from sale.draw.schemas import DrawOut, EntryIn, EntryOut, LinkedEntry, VoidIn, VoidOut
from sale.draw.service import VERIFY_PATH
from sale.exceptions import parse_drop_id

router = APIRouter(tags=["draws"])
TEXT = "text/plain; charset=utf-8"
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


ENTRY_PATH = "/api/drops/{drop_id}/entry"


def parse_entry(body: bytes) -> str:
    """The variant from the raw body ("" for none); anything malformed is a 422 problem."""
    if not body.strip():
        return ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("The body is not valid JSON") from exc
    if not isinstance(data, dict) or set(data) - {"variant"}:
        raise ValidationFailed('The body must be a JSON object with at most "variant"')
    variant = data.get("variant") or ""
    if not isinstance(variant, str) or (variant and not _SKU.fullmatch(variant)):
        raise ValidationFailed("variant must be a variant's sku")
    return variant


async def enter_draw(request: Request) -> Response:
    """Enters the caller in the draw (entering again answers the same entry): a rush's call, served as
    a plain route like the purchase (raw body, cached token check, bytes out)."""
    services = services_of(request)
    claims = services.runtime.tokens.from_header(request.headers.get("authorization"))
    drop_id = parse_drop_id(request.path_params["drop_id"])
    variant = parse_entry(await request.body())
    await services.runtime.versions.check_recent(claims.user_id, claims.ver)
    entry = await services.draws.enter(drop_id, claims.user_id, client_key(request), variant or None)
    return Response(orjson.dumps(entry.model_dump(mode="json")), media_type=JSON)


def entry_route() -> APIRoute:
    return PlainRoute(ENTRY_PATH, enter_draw, methods=["PUT"], response_model=EntryOut, tags=["draws"],
                      summary="Enter the draw",
                      responses=problems("unauthorized", "drop_not_found", "not_a_draw", "entries_closed",
                                         "entry_address_limit", "validation_error"),
                      openapi_extra={"parameters": [path_parameter("drop_id")], "requestBody": {
                          "content": {JSON: {"schema": EntryIn.model_json_schema()}}, "required": False}})


@router.delete("/api/drops/{drop_id}/entry", status_code=204,
               responses=problems("unauthorized", "drop_not_found", "not_a_draw", "entries_closed", "not_entered"))
async def withdraw_entry(drop_id: DropId, claims: CurrentUser, draws: DrawsDep) -> Response:
    await draws.withdraw(drop_id, claims.user_id)
    return Response(status_code=204)


@router.get("/api/drops/{drop_id}/entry", response_model=EntryOut,
            responses=problems("unauthorized", "drop_not_found", "not_a_draw", "not_entered"))
async def my_entry(drop_id: DropId, claims: CurrentUser, draws: DrawsDep) -> EntryOut:
    return await draws.entry(drop_id, claims.user_id)


@router.get("/api/drops/{drop_id}/draw", response_model=DrawOut,
            responses=problems("drop_not_found", "not_a_draw"))
async def public_draw(drop_id: DropId, draws: DrawsDep) -> DrawOut:
    """The draw as anyone may check it: commitment from entries_open_at, seed from the draw on."""
    return await draws.public(drop_id)


@router.get("/api/drops/{drop_id}/draw/entries.txt", response_class=StreamingResponse,
            responses={200: {"content": {"text/plain": {}}}, **problems("drop_not_found", "not_a_draw",
                                                                         "draw_not_made")})
async def draw_entries(drop_id: DropId, draws: DrawsDep) -> StreamingResponse:
    """Every entry id in the draw, one a line (sorted), from the draw on; voided entries are not in it."""
    return StreamingResponse(await draws.entries_text(drop_id), media_type=TEXT)


@router.get("/api/drops/{drop_id}/draw/results.txt", response_class=StreamingResponse,
            responses={200: {"content": {"text/plain": {}}}, **problems("drop_not_found", "not_a_draw",
                                                                         "draw_not_made")})
async def draw_results(drop_id: DropId, draws: DrawsDep) -> StreamingResponse:
    """The published results: '<entry id> <rank> <status>' a line, by entry id (status won, backup,
    lost, lapsed), from the draw on."""
    return StreamingResponse(await draws.results_text(drop_id), media_type=TEXT)


@router.get(VERIFY_PATH, response_class=Response, responses={200: {"content": {"text/x-python": {}}}})
async def verify_script() -> Response:
    """A standard-library Python script: `python3 verify_draw.py <drop page or API URL>` downloads the
    draw, its entry ids and results, recomputes every rank and says whether each matches."""
    source = resources.files("app.web").joinpath("verify_draw.py").read_bytes()
    return Response(source, media_type="text/x-python; charset=utf-8",
                    headers={"Content-Disposition": 'inline; filename="verify_draw.py"'})


@router.get("/api/admin/drops/{drop_id}/draw/linked", response_model=list[LinkedEntry],
            responses=problems("unauthorized", "forbidden", "drop_not_found", "not_a_draw"))
async def linked_entries(drop_id: DropId, _: OperatorUser, operator: DrawOperatorDep) -> list[LinkedEntry]:
    """Entries that look linked (one address tag, accounts created in a burst), for review before the draw."""
    return await operator.linked(drop_id)


@router.post("/api/admin/drops/{drop_id}/draw/void", response_model=VoidOut,
             responses=problems("unauthorized", "forbidden", "drop_not_found", "not_a_draw", "not_entered",
                                "draw_made", "validation_error"))
async def void_entries(drop_id: DropId, body: VoidIn, actor: OperatorActor, operator: DrawOperatorDep) -> VoidOut:
    """Voids entries before the draw (each one audited); the draw leaves them out and counts them."""
    return await operator.void(drop_id, body.entry_ids, body.reason, actor)
