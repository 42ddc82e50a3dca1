"""F-code routes. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import EmployeeUser, FcodesDep, OperatorUser
from codes.schemas import ClaimOut, CodeStatsOut, FcodeOut, GiftIn, IssueIn, IssueOut

router = APIRouter(prefix="/api", tags=["fcodes"])


@router.post("/fcodes/claim", response_model=ClaimOut)
async def claim(claims: EmployeeUser, codes: FcodesDep) -> ClaimOut:
    return await codes.claim(claims)


@router.get("/fcodes", response_model=list[FcodeOut])
async def list_codes(claims: EmployeeUser, codes: FcodesDep) -> list[FcodeOut]:
    return await codes.list_for(claims)


@router.post("/fcodes/{code}/gift", response_model=FcodeOut)
async def gift(code: str, body: GiftIn, claims: EmployeeUser, codes: FcodesDep) -> FcodeOut:
    return await codes.gift(claims, code, str(body.email))


@router.delete("/fcodes/{code}/gift", response_model=FcodeOut)
async def ungift(code: str, claims: EmployeeUser, codes: FcodesDep) -> FcodeOut:
    return await codes.ungift(claims, code)


@router.post("/admin/fcodes/issue", response_model=IssueOut)
async def issue(_: OperatorUser, codes: FcodesDep,
                body: Annotated[IssueIn | None, Body()] = None) -> IssueOut:
    body = body or IssueIn()
    return await codes.issue(body.month, body.sku)


@router.post("/admin/fcodes/{code}/revoke", response_model=FcodeOut)
async def revoke(code: str, _: OperatorUser, codes: FcodesDep) -> FcodeOut:
    return await codes.revoke(code)


@router.get("/admin/fcodes/stats", response_model=CodeStatsOut)
async def stats(_: OperatorUser, codes: FcodesDep) -> CodeStatsOut:
    return await codes.stats()
