"""F-code routes. Thin: dependencies in, one service call, result out."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from app.deps import EmployeeUser, OperatorUser, RuntimeDep
from app.problems import problems
from codes.schemas import ClaimOut, CodeStatsOut, FcodeOut, GiftIn, IssueIn, IssueOut
from codes.service import FcodeService

router = APIRouter(prefix="/api", tags=["fcodes"])


def _codes(runtime: RuntimeDep) -> FcodeService:
    service: FcodeService = runtime.services["fcode_service"]
    return service


@router.post("/fcodes/claim", response_model=ClaimOut, responses=problems("unauthorized", "forbidden"))
async def claim(claims: EmployeeUser, runtime: RuntimeDep) -> ClaimOut:
    return await _codes(runtime).claim(claims)


@router.get("/fcodes", response_model=list[FcodeOut], responses=problems("unauthorized", "forbidden"))
async def list_codes(claims: EmployeeUser, runtime: RuntimeDep) -> list[FcodeOut]:
    return await _codes(runtime).list_for(claims)


@router.post("/fcodes/{code}/gift", response_model=FcodeOut,
             responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found",
                                "recipient_not_found", "gift_to_self", "fcode_not_available"))
async def gift(code: str, body: GiftIn, claims: EmployeeUser, runtime: RuntimeDep) -> FcodeOut:
    return await _codes(runtime).gift(claims, code, str(body.email))


@router.delete("/fcodes/{code}/gift", response_model=FcodeOut,
               responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found",
                                  "fcode_not_available"))
async def ungift(code: str, claims: EmployeeUser, runtime: RuntimeDep) -> FcodeOut:
    return await _codes(runtime).ungift(claims, code)


@router.post("/admin/fcodes/issue", response_model=IssueOut, responses=problems("unauthorized", "forbidden"))
async def issue(_: OperatorUser, runtime: RuntimeDep,
                body: Annotated[IssueIn | None, Body()] = None) -> IssueOut:
    body = body or IssueIn()
    return await _codes(runtime).issue(body.month, body.sku)


@router.post("/admin/fcodes/{code}/revoke", response_model=FcodeOut,
             responses=problems("unauthorized", "forbidden", "fcode_malformed", "fcode_not_found", "fcode_redeemed"))
async def revoke(code: str, _: OperatorUser, runtime: RuntimeDep) -> FcodeOut:
    return await _codes(runtime).revoke(code)


@router.get("/admin/fcodes/stats", response_model=CodeStatsOut, responses=problems("unauthorized", "forbidden"))
async def stats(_: OperatorUser, runtime: RuntimeDep) -> CodeStatsOut:
    return await _codes(runtime).stats()
