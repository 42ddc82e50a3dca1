"""The waitlist after sell-out (issue 22). Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from app.deps import CurrentUser, services_of
from app.problems import problems
from app.routes.sale import DropId
from sale.waitlist.schemas import WaitlistOut
from sale.waitlist.service import WaitlistService

router = APIRouter(tags=["waitlist"])
PATH = "/api/drops/{drop_id}/waitlist"


async def get_waitlist(request: Request) -> WaitlistService:
    return services_of(request).waitlist


WaitlistDep = Annotated[WaitlistService, Depends(get_waitlist)]


@router.put(PATH, response_model=WaitlistOut,
            responses=problems("unauthorized", "drop_not_found", "not_sold_out", "waitlist_closed", "limit_reached"))
async def join_waitlist(drop_id: DropId, claims: CurrentUser, waitlist: WaitlistDep) -> WaitlistOut:
    """Joins the sold-out drop's waitlist; joining again answers the same place (or the unit held)."""
    return await waitlist.join(drop_id, claims.user_id)


@router.get(PATH, response_model=WaitlistOut, responses=problems("unauthorized", "drop_not_found", "not_on_waitlist"))
async def my_waitlist_place(drop_id: DropId, claims: CurrentUser, waitlist: WaitlistDep) -> WaitlistOut:
    return await waitlist.standing(drop_id, claims.user_id)


@router.delete(PATH, status_code=204, responses=problems("unauthorized", "drop_not_found", "not_on_waitlist"))
async def leave_waitlist(drop_id: DropId, claims: CurrentUser, waitlist: WaitlistDep) -> Response:
    """Leaves the waitlist, or gives up the unit held (it passes to the next at once)."""
    await waitlist.leave(drop_id, claims.user_id)
    return Response(status_code=204)
