"""Draws: entering, withdrawing, one's entry; the public draw, its entry ids and results, and the
script that checks them. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.responses import Response

from app.deps import ClientAddress, CurrentUser, DrawOperatorDep, DrawsDep, OperatorActor, OperatorUser
from app.problems import problems
from app.routes.sale import DropId
from sale.draw.schemas import DrawOut, EntryIn, EntryOut, LinkedEntry, VoidIn, VoidOut
from sale.draw.service import VERIFY_PATH

router = APIRouter(tags=["draws"])
TEXT = "text/plain; charset=utf-8"


@router.put("/api/drops/{drop_id}/entry", response_model=EntryOut,
            responses=problems("unauthorized", "drop_not_found", "not_a_draw", "entries_closed",
                               "entry_address_limit", "validation_error"))
async def enter_draw(drop_id: DropId, claims: CurrentUser, address: ClientAddress, draws: DrawsDep,
                     body: EntryIn | None = None) -> EntryOut:
    """Enters the caller in the draw (entering again answers the same entry)."""
    return await draws.enter(drop_id, claims.user_id, address, body.variant if body else None)


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
