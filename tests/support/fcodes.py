"""Helpers for the F-code suites (no tests here)."""
from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from codes.format import ALPHABET, DATA_SYMBOLS, PREFIX, canonical, check_value
from codes.gate import Gate
from codes.models import FCode
from codes.months import expiry, month_of
from codes.repository import FcodeRepository
from codes.service import FcodeService
from tests.support import Account, runtime_of, services_of


def codes_service(app: FastAPI) -> FcodeService:
    return services_of(app).fcodes


def gate_of(app: FastAPI) -> Gate:
    return services_of(app).gate


def fresh_address() -> str:
    """A client address of its own: the per-address failure limit of one test never touches another."""
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


@asynccontextmanager
async def client_at(app: FastAPI, address: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address or fresh_address(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


async def claim(client: httpx.AsyncClient, employee: Account) -> list[dict[str, Any]]:
    response = await client.post("/api/fcodes/claim", headers=employee.headers)
    assert response.status_code == 200, response.text
    codes: list[dict[str, Any]] = response.json()["codes"]
    return codes


async def my_codes(client: httpx.AsyncClient, employee: Account) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/fcodes", headers=employee.headers)
    assert response.status_code == 200, response.text
    return {c["code"]: c for c in response.json()}


async def purchase(client: httpx.AsyncClient, drop_id: int, buyer: Account,
                   code: str | None) -> httpx.Response:
    body: dict[str, Any] = {"quantity": 1}
    if code is not None:
        body["fcode"] = code
    return await client.post(f"/api/drops/{drop_id}/purchase", json=body, headers=buyer.headers)


def code_with(data_start: str) -> str:
    """A well-formed code (check symbol right) whose data begins with `data_start`."""
    while True:
        tail = "".join(secrets.choice(ALPHABET) for _ in range(DATA_SYMBOLS - len(data_start)))
        data = data_start + tail
        check = check_value(data)
        if check < len(ALPHABET):
            return PREFIX + data + ALPHABET[check]


async def plant_code(app: FastAPI, owner: Account, code: str, sku: str | None = None) -> None:
    """Records a code of our choosing for an employee (as minting would, with a chosen value)."""
    service = codes_service(app)
    runtime = runtime_of(app)
    month = month_of(datetime.now(UTC), runtime.settings.zone)
    record = FCode(code_hash=service.crypto.lookup_hash(code), code_enc=service.crypto.encrypt(code),
                   owner_id=owner.id, month=month, slot=100 + secrets.randbelow(10**6), sku=sku,
                   status="available", expires_at=expiry(month, 1, runtime.settings.zone),
                   created_at=datetime.now(UTC), version=0)
    row = record.model_dump(exclude={"id"})
    async with runtime.sessions() as session, session.begin():
        assert await FcodeRepository(session).insert_missing([row])
    await service.state.load([record])


async def sql_row(app: FastAPI, code: str) -> FCode | None:
    service = codes_service(app)
    async with runtime_of(app).sessions() as session:
        return await FcodeRepository(session).by_hash(service.crypto.lookup_hash(canonical(code)))

