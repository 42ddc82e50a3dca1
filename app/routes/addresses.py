"""The buyer's shipping addresses (personal data: the routes log nothing of them)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from accounts.addresses.exceptions import AddressNotFound
from accounts.addresses.schemas import AddressIn, AddressOut
from app.deps import AddressesDep, CurrentUser
from app.problems import problems
from core.ids import parse_id

router = APIRouter(prefix="/api/me", tags=["addresses"])


async def _address_id(address_id: str) -> int:  # async: a plain def would run in the thread pool
    parsed = parse_id(address_id)
    if parsed is None:
        raise AddressNotFound()
    return parsed


AddressId = Annotated[int, Depends(_address_id)]


@router.post("/addresses", status_code=201, response_model=AddressOut,
             responses=problems("unauthorized", "validation_error", "too_many_addresses"))
async def add_address(body: AddressIn, claims: CurrentUser, addresses: AddressesDep) -> AddressOut:
    return await addresses.add(claims.user_id, body)


@router.get("/addresses", response_model=list[AddressOut], responses=problems("unauthorized"))
async def list_addresses(claims: CurrentUser, addresses: AddressesDep) -> list[AddressOut]:
    return await addresses.list_for(claims.user_id)


@router.delete("/addresses/{address_id}", status_code=204, responses=problems("unauthorized", "address_not_found"))
async def delete_address(address_id: AddressId, claims: CurrentUser, addresses: AddressesDep) -> Response:
    await addresses.delete(claims.user_id, address_id)
    return Response(status_code=204)
