"""F-codes on the purchase path: the priority window, limits, release and redemption, bad codes."""
from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI

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
from tests.support.clock import Manual
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


async def test_expired_reservation_gives_the_code_back(manual: Manual) -> None:
    app, client = manual.app, manual.client
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=2, pay_window_seconds=1)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as buyer_client:
        order = (await purchase(buyer_client, drop["id"], buyer, code)).json()

        async def back() -> bool:
            return bool((await my_codes(client, employee))[code]["status"] == "available")

        manual.clock.advance(1)  # pay_by: the sweeper expires the order and frees the code
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
