"""The waiting room. Thin: dependencies in, one service call, result out. No SQL on these paths."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import ClientAddress, CurrentUser, OperatorUser, RuntimeDep, SessionDep
from app.routes.sale import DropId, _sale
from sale.queue.schemas import JoinIn, TicketOut
from sale.queue.service import QueueService
from sale.schemas import DropOut, DropPatch

router = APIRouter(prefix="/api", tags=["waiting room"])


def _queue(runtime: RuntimeDep) -> QueueService:
    service: QueueService = runtime.services["queue"]
    return service


@router.get("/drops/{drop_id}/queue/challenge", responses={404: {"description": "drop_not_found, no_waiting_room"}})
async def queue_challenge(drop_id: DropId, claims: CurrentUser, runtime: RuntimeDep) -> dict[str, Any]:
    """An ALTCHA challenge (v2, as the widget fetches it), bound to this drop and account."""
    return await _queue(runtime).challenge(drop_id, claims.user_id)


@router.post("/drops/{drop_id}/queue", response_model=TicketOut,
             responses={403: {"description": "queue_not_open, challenge_failed"}, 409: {"description": "sold_out"},
                        429: {"description": "rate_limited"}})
async def join_queue(drop_id: DropId, claims: CurrentUser, address: ClientAddress, runtime: RuntimeDep,
                     body: JoinIn | None = None) -> TicketOut:
    return await _queue(runtime).join(drop_id, claims.user_id, address, body.altcha if body else None)


@router.get("/drops/{drop_id}/queue", response_model=TicketOut, responses={404: {"description": "not_in_queue"}})
async def queue_ticket(drop_id: DropId, claims: CurrentUser, runtime: RuntimeDep) -> TicketOut:
    return await _queue(runtime).ticket(drop_id, claims.user_id)


@router.patch("/admin/drops/{drop_id}", response_model=DropOut, tags=["drops"])
async def update_drop(drop_id: DropId, body: DropPatch, _: OperatorUser, session: SessionDep,
                      runtime: RuntimeDep) -> DropOut:
    """Changes `admit_per_second` while the sale runs (the meter uses it from its next step)."""
    return await _sale(runtime).update_drop(session, drop_id, body)
