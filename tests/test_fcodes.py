"""F-codes through the API: allotment, buying with a code, gifts, revocation, bad input."""
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
    create_drop,
    eventually,
    is_problem,
    iso,
    make_account,
    make_accounts,
    now,
    runtime_of,
)
from tests.support.fcodes import (
    claim,
    client_at,
    code_with,
    codes_service,
    my_codes,
    plant_code,
    purchase,
    sql_row,
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


async def test_month_rollover_follows_the_configured_zone(app: FastAPI, client: httpx.AsyncClient) -> None:
    service = codes_service(app)
    zone = runtime_of(app).settings.zone
    employee = await make_account(app, "employee")
    last_day = datetime(2026, 12, 1, tzinfo=zone).astimezone(UTC)
    original = service.clock
    try:
        service.clock = lambda: last_day - timedelta(seconds=1)
        november = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
        service.clock = lambda: last_day
        december = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
        december_again = (await client.post("/api/fcodes/claim", headers=employee.headers)).json()
    finally:
        service.clock = original
    assert (november["month"], december["month"]) == ("2026-11", "2026-12")
    assert december_again == december
    assert not {c["code"] for c in november["codes"]} & {c["code"] for c in december["codes"]}
    # Good until the end of the following month, in the store's zone.
    assert {datetime.fromisoformat(c["expires_at"]) for c in november["codes"]} == {
        datetime(2027, 1, 1, tzinfo=zone)}
    assert len(await my_codes(client, employee)) == 4


async def test_priority_window_needs_a_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    shopper, other = await make_account(app), await make_account(app)
    start = now() + timedelta(minutes=10)
    drop = await create_drop(client, operator, starts_at=iso(start), ends_at=iso(start + timedelta(hours=1)),
                             priority_minutes=30)
    assert drop["phase"] == "priority"
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as buyer_client:
        assert is_problem(await purchase(buyer_client, drop["id"], shopper, None), 403, "not_open")
        bought = await purchase(buyer_client, drop["id"], shopper, code)
        assert bought.status_code == 201, bought.text
        assert is_problem(await purchase(buyer_client, drop["id"], other, code), 403, "fcode_invalid")
    listed = (await my_codes(client, employee))[code]
    assert (listed["status"], listed["order_id"]) == ("reserved", bought.json()["id"])

    async def recorded() -> bool:
        row = await sql_row(app, code)
        return row is not None and (row.status, row.order_id) == ("reserved", bought.json()["id"])

    await eventually(recorded)


async def test_code_in_an_open_drop_counts_toward_the_limit(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=5, per_user_limit=1)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as buyer_client:
        assert (await purchase(buyer_client, drop["id"], buyer, None)).status_code == 201
        assert is_problem(await purchase(buyer_client, drop["id"], buyer, code), 409, "limit_reached")
        # The refused purchase let go of the code at once.
        assert (await my_codes(client, employee))[code]["status"] == "available"
        two = await buyer_client.post(f"/api/drops/{drop['id']}/purchase",
                                      json={"quantity": 2, "fcode": code}, headers=buyer.headers)
        assert is_problem(two, 422)
        other = await make_account(app)
        assert (await purchase(buyer_client, drop["id"], other, code)).status_code == 201


async def test_cancel_gives_the_code_back_and_pay_redeems_it(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=5, per_user_limit=3)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as buyer_client:
        order = (await purchase(buyer_client, drop["id"], buyer, code)).json()
        assert (await my_codes(client, employee))[code]["status"] == "reserved"
        cancelled = await buyer_client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)
        assert cancelled.json()["status"] == "cancelled"
        listed = (await my_codes(client, employee))[code]
        assert (listed["status"], listed["order_id"]) == ("available", None)
        order = (await purchase(buyer_client, drop["id"], buyer, code)).json()
        paid = await buyer_client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                                       headers=buyer.headers)
        assert paid.status_code == 200 and paid.json()["status"] == "paid"
        listed = (await my_codes(client, employee))[code]
        assert (listed["status"], listed["order_id"]) == ("redeemed", order["id"])
        assert is_problem(await purchase(buyer_client, drop["id"], buyer, code), 403, "fcode_invalid")

    async def redeemed_in_sql() -> bool:
        row = await sql_row(app, code)
        return row is not None and (row.status, row.order_id) == ("redeemed", order["id"])

    await eventually(redeemed_in_sql)


async def test_expired_reservation_gives_the_code_back(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=2, pay_window_seconds=1)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as buyer_client:
        order = (await purchase(buyer_client, drop["id"], buyer, code)).json()

        async def back() -> bool:
            return bool((await my_codes(client, employee))[code]["status"] == "available")

        await eventually(back, timeout=10)
        assert (await buyer_client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()[
            "status"] == "expired"
        assert (await my_codes(client, employee))[code]["order_id"] is None
        assert (await purchase(buyer_client, drop["id"], buyer, code)).status_code == 201

    async def reserved_again_in_sql() -> bool:
        row = await sql_row(app, code)
        return row is not None and row.status == "reserved" and row.order_id != order["id"]

    await eventually(reserved_again_in_sql)


async def test_wrong_sku_is_refused_like_any_invalid_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    bound = await create_drop(client, operator, stock=3)
    elsewhere = await create_drop(client, operator, stock=3)
    result = await codes_service(app).issue(None, sku=bound["sku"], owner_ids=[employee.id])
    assert result.issued == 2
    code = next(iter((await my_codes(client, employee)).values()))
    assert code["sku"] == bound["sku"]
    async with client_at(app) as buyer_client:
        refused = await purchase(buyer_client, elsewhere["id"], buyer, code["code"])
        assert is_problem(refused, 403, "fcode_invalid")
        assert (await purchase(buyer_client, bound["id"], buyer, code["code"])).status_code == 201


async def test_code_input_forms(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Lowercase, no hyphens, spaces, look-alikes (I/L for 1, O for 0) and no F all reach the same code."""
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    drop = await create_drop(client, operator, stock=10, per_user_limit=1)
    codes = [code_with("0110") for _ in range(5)]
    for code in codes:
        await plant_code(app, employee, code)
    typed = [
        codes[0].lower(),                                               # lowercase, no hyphens
        " ".join(codes[1][i:i + 4] for i in range(0, len(codes[1]), 4)),  # spaced groups
        "f" + codes[2][1:].replace("1", "l").replace("0", "o"),         # look-alikes, lowercase
        codes[3][1:].replace("1", "I").replace("0", "O"),               # no prefix, look-alikes
        "-".join(codes[4][i:i + 2] for i in range(0, len(codes[4]), 2)),  # odd hyphens
    ]
    async with client_at(app) as buyer_client:
        for text in typed:
            buyer = await make_account(app)
            response = await purchase(buyer_client, drop["id"], buyer, text)
            assert response.status_code == 201, (text, response.text)
    assert {c["status"] for c in (await my_codes(client, employee)).values()} == {"reserved"}


async def test_bad_codes_get_fcode_invalid(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    drop = await create_drop(client, operator, stock=10)
    good = (await claim(client, employee))[0]["code"]
    last = good[-1]
    wrong_check = good[:-1] + ("1" if last != "1" else "2")
    swapped = good[:2] + good[3] + good[2] + good[4:] if good[2] != good[3] else wrong_check
    cases = {
        "garbage": ("hello world", "not an F-code"),
        "smoke all-zero": ("F0000-0000-0000-0000-0000", "mistyped"),
        "wrong check symbol": (wrong_check, "mistyped"),
        "neighbours swapped": (swapped, "mistyped"),
        "unknown": (code_with(""), None),
        "too short": (good[:-2], "not an F-code"),
        "letter U": ("U" * 20, "not an F-code"),
    }
    for name, (text, detail) in cases.items():
        buyer = await make_account(app)
        async with client_at(app) as buyer_client:
            response = await purchase(buyer_client, drop["id"], buyer, text)
        assert is_problem(response, 403, "fcode_invalid"), (name, response.text)
        if detail:
            assert detail in response.json()["detail"], (name, response.json())
    async with client_at(app) as buyer_client:
        buyer = await make_account(app)
        overlong = await buyer_client.post(f"/api/drops/{drop['id']}/purchase",
                                           json={"fcode": good * 4}, headers=buyer.headers)
        assert is_problem(overlong, 422, "validation_error")
        not_text = await buyer_client.post(f"/api/drops/{drop['id']}/purchase",
                                           json={"fcode": 12345}, headers=buyer.headers)
        assert is_problem(not_text, 422, "validation_error")
    assert (await my_codes(client, employee))[good]["status"] == "available"


async def test_sixth_failed_attempt_is_rate_limited(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    drop = await create_drop(client, operator, stock=10, per_user_limit=2)
    good = (await claim(client, employee))[0]["code"]
    guesser = await make_account(app)
    # Per account: five failures from five addresses, then even a good code waits.
    for attempt in range(5):
        async with client_at(app) as c:
            bad = code_with("") if attempt % 2 else "F" + "X" * 20
            assert is_problem(await purchase(c, drop["id"], guesser, bad), 403, "fcode_invalid")
    async with client_at(app) as c:
        limited = await purchase(c, drop["id"], guesser, good)
    assert is_problem(limited, 429, "rate_limited")
    assert 0 < int(limited.headers["Retry-After"]) <= runtime_of(app).settings.fcode_failure_window_seconds
    assert (await my_codes(client, employee))[good]["status"] == "available"
    # Per address: five accounts failing from one address, then the sixth account is limited there.
    address_guessers = await make_accounts(app, 6)
    async with client_at(app) as shared:
        for account in address_guessers[:5]:
            failed = await purchase(shared, drop["id"], account, code_with(""))
            assert is_problem(failed, 403, "fcode_invalid")
        limited = await purchase(shared, drop["id"], address_guessers[5], good)
        assert is_problem(limited, 429, "rate_limited") and int(limited.headers["Retry-After"]) > 0
    # Plain purchases are not affected by F-code failures.
    async with client_at(app) as c:
        assert (await purchase(c, drop["id"], guesser, None)).status_code == 201
        assert (await purchase(c, drop["id"], address_guessers[0], good)).status_code == 201


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
