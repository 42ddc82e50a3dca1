"""F-code routes. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import EmployeeUser, FcodesDep, OperatorActor, OperatorUser
from app.problems import problems
from codes.schemas import ClaimOut, CodeStatsOut, FcodeOut, GiftIn, IssueIn, IssueOut

router = APIRouter(prefix="/api", tags=["fcodes"])


@router.post("/fcodes/claim", response_model=ClaimOut, responses=problems("unauthorized", "forbidden"))
async def claim(claims: EmployeeUser, codes: FcodesDep) -> ClaimOut:
    return await codes.claim(claims)


@router.get("/fcodes", response_model=list[FcodeOut], responses=problems("unauthorized", "forbidden"))
async def list_codes(claims: EmployeeUser, codes: FcodesDep) -> list[FcodeOut]:
    return await codes.list_for(claims)


@router.post("/fcodes/{code}/gift", response_model=FcodeOut,
             responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found",
                                "recipient_not_found", "gift_to_self", "fcode_not_available"))
async def gift(code: str, body: GiftIn, claims: EmployeeUser, codes: FcodesDep) -> FcodeOut:
    return await codes.gift(claims, code, str(body.email))


@router.delete("/fcodes/{code}/gift", response_model=FcodeOut,
               responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found",
                                  "fcode_not_available"))
async def ungift(code: str, claims: EmployeeUser, codes: FcodesDep) -> FcodeOut:
    return await codes.ungift(claims, code)


@router.post("/admin/fcodes/issue", response_model=IssueOut, responses=problems("unauthorized", "forbidden"))
async def issue(actor: OperatorActor, codes: FcodesDep,
                body: Annotated[IssueIn | None, Body()] = None) -> IssueOut:
    body = body or IssueIn()
    return await codes.issue(body.month, body.sku, actor=actor)


@router.post("/admin/fcodes/{code}/revoke", response_model=FcodeOut,
             responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found", "fcode_redeemed"))
async def revoke(code: str, actor: OperatorActor, codes: FcodesDep) -> FcodeOut:
    return await codes.revoke(code, actor)


@router.get("/admin/fcodes/stats", response_model=CodeStatsOut, responses=problems("unauthorized", "forbidden"))
async def stats(_: OperatorUser, codes: FcodesDep) -> CodeStatsOut:
    return await codes.stats()
