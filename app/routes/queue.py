"""The waiting room. Thin: dependencies in, one service call, result out. No SQL on these paths."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import ClientAddress, CurrentUser, DropsDep, OperatorUser, QueueDep
from app.problems import problems
from app.routes.sale import DropId
from sale.queue.schemas import JoinIn, TicketOut
from sale.schemas import DropOut, DropPatch

router = APIRouter(prefix="/api", tags=["waiting room"])


@router.get("/drops/{drop_id}/queue/challenge",
            responses=problems("unauthorized", "drop_not_found", "no_waiting_room"))
async def queue_challenge(drop_id: DropId, claims: CurrentUser, queue: QueueDep) -> dict[str, Any]:
    """An ALTCHA challenge (v2, as the widget fetches it), bound to this drop and account."""
    return await queue.challenge(drop_id, claims.user_id)


@router.post("/drops/{drop_id}/queue", response_model=TicketOut,
             responses=problems("unauthorized", "drop_not_found", "no_waiting_room", "queue_not_open",
                                "challenge_failed", "sold_out", "rate_limited", "validation_error"))
async def join_queue(drop_id: DropId, claims: CurrentUser, address: ClientAddress, queue: QueueDep,
                     body: JoinIn | None = None) -> TicketOut:
    return await queue.join(drop_id, claims.user_id, address, body.altcha if body else None)


@router.get("/drops/{drop_id}/queue", response_model=TicketOut,
            responses=problems("unauthorized", "drop_not_found", "no_waiting_room", "not_in_queue"))
async def queue_ticket(drop_id: DropId, claims: CurrentUser, queue: QueueDep) -> TicketOut:
    return await queue.ticket(drop_id, claims.user_id)


@router.patch("/admin/drops/{drop_id}", response_model=DropOut, tags=["drops"],
              responses=problems("unauthorized", "forbidden", "drop_not_found", "validation_error"))
async def update_drop(drop_id: DropId, body: DropPatch, _: OperatorUser, drops: DropsDep) -> DropOut:
    """Changes `admit_per_second` while the sale runs (the meter uses it from its next step)."""
    return await drops.update_drop(drop_id, body)
