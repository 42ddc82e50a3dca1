"""The operator's controls of a drop (sale/admin/). Thin: dependencies in, one service call, result out.
Every call takes the operator's role (403 otherwise) and writes its audit entry with the change."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import ControlsDep, LifecycleDep, OperatorActor
from app.problems import problems
from app.routes.sale import DropId
from sale.admin.schemas import CancelIn, CancelOut, CloneIn, DropPatchIn, MessageIn
from sale.schemas import DropOut

router = APIRouter(prefix="/api/admin/drops", tags=["operator controls"])
CHANGE = ("unauthorized", "forbidden", "drop_not_found", "validation_error")


@router.post("/{drop_id}/pause", response_model=DropOut, responses=problems(*CHANGE))
async def pause(drop_id: DropId, actor: OperatorActor, controls: ControlsDep) -> DropOut:
    """From the answer on, no node takes a purchase or admits from the waiting room (403 drop_paused)."""
    return await controls.pause(drop_id, actor)


@router.post("/{drop_id}/resume", response_model=DropOut, responses=problems(*CHANGE))
async def resume(drop_id: DropId, actor: OperatorActor, controls: ControlsDep) -> DropOut:
    return await controls.resume(drop_id, actor)


@router.patch("/{drop_id}", response_model=DropOut, responses=problems(*CHANGE, "stock_conflict"))
async def update_drop(drop_id: DropId, body: DropPatchIn, actor: OperatorActor, controls: ControlsDep) -> DropOut:
    """Changes a drop not yet ended; `stock_delta` adds (negative: removes) units live, never below what
    is held (409 stock_conflict); the waiting room's meter uses a new `admit_per_second` from its next step."""
    return await controls.patch(drop_id, body, actor)


@router.post("/{drop_id}/message", status_code=202, response_model=DropOut, responses=problems(*CHANGE))
async def message(drop_id: DropId, body: MessageIn, actor: OperatorActor, controls: ControlsDep) -> DropOut:
    """Shown at once on the drop's page and in its waiting room (`notice`, plain text); "" removes it."""
    return await controls.message(drop_id, body.text, actor)


@router.post("/{drop_id}/clone", status_code=201, response_model=DropOut, responses=problems(*CHANGE))
async def clone(drop_id: DropId, actor: OperatorActor, lifecycle: LifecycleDep,
                body: Annotated[CloneIn | None, Body()] = None) -> DropOut:
    """A new upcoming drop with the same product, picture and settings (default: the next drop day)."""
    return await lifecycle.clone(drop_id, body or CloneIn(), actor)


@router.post("/{drop_id}/cancel", response_model=CancelOut, responses=problems(*CHANGE))
async def cancel(drop_id: DropId, actor: OperatorActor, lifecycle: LifecycleDep,
                 body: Annotated[CancelIn | None, Body()] = None) -> CancelOut:
    """Ends the drop now: purchases and joins are refused, reservations given back (their orders
    `cancelled`); with `refund_paid` the paid orders are handed to the bulk refund. Idempotent."""
    return await lifecycle.cancel(drop_id, body or CancelIn(), actor)
