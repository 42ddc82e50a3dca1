"""The waiting room. Thin: dependencies in, one service call, result out. No SQL on these paths."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.deps import ClientAddress, CurrentUser, QueueDep
from app.problems import problems
from app.routes.sale import DropId
from sale.queue.schemas import JoinIn, TicketOut

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
