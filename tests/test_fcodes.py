"""F-codes through the API: monthly allotment, claims, issuing, the month boundary, employee-only routes."""
from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import col, select

from codes.models import FCode
from codes.months import month_of
from tests.support import (
    is_problem,
    make_account,
    make_accounts,
    now,
    runtime_of,
)
from tests.support.clock import Manual
from tests.support.fcodes import (
    claim,
    my_codes,
)

CODE_FORMAT = re.compile(r"^F[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


async def test_claim_twice_returns_the_same_codes(app: FastAPI, client: httpx.AsyncClient) -> None:
    employee = await make_account(app, "employee")
    first = await claim(client, employee)
    settings = runtime_of(app).settings
    assert len(first) == settings.fcodes_per_employee_month == 2
    month = month_of(datetime.now(UTC), settings.zone)
    for code in first:
        assert CODE_FORMAT.match(code["code"]), code
        assert (code["month"], code["status"], code["sku"], code["order_id"], code["gifted_to"]) == (
            month, "available", None, None, None)
        assert datetime.fromisoformat(code["expires_at"]) > now() + timedelta(days=27)
    response = await client.post("/api/fcodes/claim", headers=employee.headers)
    assert response.json()["month"] == month and response.json()["codes"] == first
    assert set(await my_codes(client, employee)) == {c["code"] for c in first}


async def test_concurrent_claims_and_issues_mint_no_extra_codes(app: FastAPI,
                                                                client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    employees = await make_accounts(app, 3, "employee")
    calls = [client.post("/api/fcodes/claim", headers=e.headers) for e in employees for _ in range(8)]
    calls += [client.post("/api/admin/fcodes/issue", json={}, headers=operator.headers) for _ in range(4)]
    responses = await asyncio.gather(*calls)
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses if r.status_code != 200]
    for index in range(len(employees)):
        mine = responses[index * 8:index * 8 + 8]
        seen = {tuple(sorted(c["code"] for c in r.json()["codes"])) for r in mine}
        assert len(seen) == 1 and len(next(iter(seen))) == 2
    async with runtime_of(app).sessions() as session:
        counts = (await session.execute(select(FCode.owner_id, func.count()).where(
            col(FCode.owner_id).in_([e.id for e in employees])).group_by(col(FCode.owner_id)))).all()
    assert sorted(n for _, n in counts) == [2, 2, 2]
    again = await client.post("/api/admin/fcodes/issue", headers=operator.headers)
    assert again.status_code == 200 and again.json()["issued"] == 0


async def test_issue_mints_for_employees_without_codes(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    employees = await make_accounts(app, 2, "employee")
    response = await client.post("/api/admin/fcodes/issue", headers=operator.headers)
    assert response.status_code == 200 and response.json()["issued"] >= 4
    assert response.json()["month"] == month_of(datetime.now(UTC), runtime_of(app).settings.zone)
    for employee in employees:
        assert len(await my_codes(client, employee)) == 2
        assert len(await claim(client, employee)) == 2  # claim finds the issued codes
    assert (await client.post("/api/admin/fcodes/issue", json={"month": None},
                              headers=operator.headers)).json()["issued"] == 0
    bad_bodies = ({"month": "2026-13"}, {"month": "26-01"}, {"month": "9999-01"}, {"extra": 1},
                  {"sku": "a b"})
    for body in bad_bodies:
        assert is_problem(await client.post("/api/admin/fcodes/issue", json=body, headers=operator.headers),
                          422, "validation_error"), body
    assert is_problem(await client.post("/api/admin/fcodes/issue", headers=employees[0].headers),
                      403, "forbidden")


async def test_month_rollover_follows_the_configured_zone(manual: Manual) -> None:
    app, client, clock = manual.app, manual.client, manual.clock
    zone = runtime_of(app).settings.zone
    employee = await make_account(app, "employee")
    last_day = datetime(2026, 12, 1, tzinfo=zone).astimezone(UTC)
    clock.set(last_day - timedelta(seconds=1))
    november = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
    clock.advance(1)
    december = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
    december_again = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
    assert (november["month"], december["month"]) == ("2026-11", "2026-12")
    assert december_again == december
    assert not {c["code"] for c in november["codes"]} & {c["code"] for c in december["codes"]}
    # Good until the end of the following month, in the store's zone.
    assert {datetime.fromisoformat(c["expires_at"]) for c in november["codes"]} == {
        datetime(2027, 1, 1, tzinfo=zone)}
    assert len(await my_codes(client, employee)) == 4


async def test_only_employees_use_the_employee_routes(app: FastAPI, client: httpx.AsyncClient) -> None:
    shopper, operator = await make_account(app), await make_account(app, "operator")
    employee = await make_account(app, "employee")
    code = (await claim(client, employee))[0]["code"]
    for account in (shopper, operator):
        assert is_problem(await client.post("/api/fcodes/claim", headers=account.headers), 403, "forbidden")
        assert is_problem(await client.get("/api/fcodes", headers=account.headers), 403, "forbidden")
        assert is_problem(await client.post(f"/api/fcodes/{code}/gift", json={"email": employee.email},
                                            headers=account.headers), 403, "forbidden")
    assert is_problem(await client.post("/api/fcodes/claim"), 401, "unauthorized")
    assert is_problem(await client.get("/api/admin/fcodes/stats", headers=employee.headers), 403, "forbidden")
    assert is_problem(await client.post(f"/api/admin/fcodes/{code}/revoke", headers=employee.headers),
                      403, "forbidden")
