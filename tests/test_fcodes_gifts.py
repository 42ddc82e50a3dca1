"""Gifts, revocation and operator stats of F-codes."""
from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from codes.format import canonical
from tests.support import create_drop, is_problem, iso, make_account, now, runtime_of
from tests.support.clock import Manual
from tests.support.fcodes import claim, client_at, code_with, codes_service, my_codes, purchase


async def test_gift_binds_the_code_to_its_recipient(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    friend, stranger = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    code = (await claim(client, employee))[0]["code"]
    gifted = await client.post(f"/api/fcodes/{code}/gift", json={"email": friend.email.upper()},
                               headers=employee.headers)
    assert gifted.status_code == 200, gifted.text
    assert (gifted.json()["gifted_to"], gifted.json()["status"]) == (friend.email, "available")
    assert (await my_codes(client, employee))[code]["gifted_to"] == friend.email
    async with client_at(app) as c:
        assert is_problem(await purchase(c, drop["id"], stranger, code), 403, "fcode_invalid")
        assert is_problem(await purchase(c, drop["id"], employee, code), 403, "fcode_invalid")
    async with client_at(app) as c:
        bought = await purchase(c, drop["id"], friend, code)
        assert bought.status_code == 201, bought.text
    listed = (await my_codes(client, employee))[code]
    assert (listed["status"], listed["order_id"], listed["gifted_to"]) == ("reserved", bought.json()["id"],
                                                                          friend.email)
    # A code in an order can be neither given again nor taken back.
    assert is_problem(await client.post(f"/api/fcodes/{code}/gift", json={"email": stranger.email},
                                        headers=employee.headers), 409, "fcode_not_available")
    assert is_problem(await client.delete(f"/api/fcodes/{code}/gift", headers=employee.headers),
                      409, "fcode_not_available")


async def test_take_back_and_gift_window(manual: Manual) -> None:
    app, client, clock = manual.app, manual.client, manual.clock
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    friend, other = await make_account(app), await make_account(app)
    # Open past the gift window.
    drop = await create_drop(client, operator, stock=5, ends_at=iso(now() + timedelta(days=5)))
    first, second = (c["code"] for c in await claim(client, employee))
    assert (await client.post(f"/api/fcodes/{first}/gift", json={"email": friend.email},
                              headers=employee.headers)).status_code == 200
    taken = await client.delete(f"/api/fcodes/{first}/gift", headers=employee.headers)
    assert taken.status_code == 200 and taken.json()["gifted_to"] is None
    assert (await client.delete(f"/api/fcodes/{first}/gift", headers=employee.headers)).status_code == 200
    async with client_at(app) as c:
        assert (await purchase(c, drop["id"], other, first)).status_code == 201  # unbound: whoever holds it
    # A gift not used within the window (72 hours) returns to the giver.
    assert (await client.post(f"/api/fcodes/{second}/gift", json={"email": friend.email},
                              headers=employee.headers)).status_code == 200
    hours = runtime_of(app).settings.fcode_gift_hours
    clock.advance(hours * 3600 - 1)
    assert (await my_codes(client, employee))[second]["gifted_to"] == friend.email
    async with client_at(app) as c:
        assert is_problem(await purchase(c, drop["id"], employee, second), 403, "fcode_invalid")
    clock.advance(1)
    assert (await my_codes(client, employee))[second]["gifted_to"] is None
    async with client_at(app) as c:
        assert (await purchase(c, drop["id"], employee, second)).status_code == 201


async def test_gift_errors(app: FastAPI, client: httpx.AsyncClient) -> None:
    employee, colleague = await make_account(app, "employee"), await make_account(app, "employee")
    friend = await make_account(app)
    code = (await claim(client, employee))[0]["code"]
    theirs = (await claim(client, colleague))[0]["code"]

    async def gift(text: str, email: str) -> httpx.Response:
        return await client.post(f"/api/fcodes/{text}/gift", json={"email": email}, headers=employee.headers)

    assert is_problem(await gift(code, "nobody-here@example.com"), 404, "recipient_not_found")
    assert is_problem(await gift(code, employee.email), 422, "gift_to_self")
    assert is_problem(await gift(theirs, friend.email), 404, "fcode_not_found")
    assert is_problem(await gift(code_with(""), friend.email), 404, "fcode_not_found")
    assert is_problem(await gift("not-a-code", friend.email), 422, "fcode_malformed")
    mistyped = code[:-1] + ("1" if code[-1] != "1" else "2")
    assert is_problem(await gift(mistyped, friend.email), 422, "fcode_malformed")
    assert is_problem(await gift("x" * 500, friend.email), 422, "fcode_malformed")
    assert is_problem(await gift(code, "not an email"), 422, "validation_error")
    assert is_problem(await client.post(f"/api/fcodes/{code}/gift", json={}, headers=employee.headers),
                      422, "validation_error")
    assert is_problem(await client.delete(f"/api/fcodes/{theirs}/gift", headers=employee.headers),
                      404, "fcode_not_found")
    # Lowercase and without hyphens names the same code.
    response = await gift(code.replace("-", "").lower(), friend.email)
    assert response.status_code == 200 and response.json()["code"] == code


async def test_revoke(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=5, per_user_limit=2)
    first, second = (c["code"] for c in await claim(client, employee))
    revoked = await client.post(f"/api/admin/fcodes/{first}/revoke", headers=operator.headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    again = await client.post(f"/api/admin/fcodes/{first.lower()}/revoke", headers=operator.headers)
    assert again.status_code == 200 and again.json() == revoked.json()
    assert (await my_codes(client, employee))[first]["status"] == "revoked"
    async with client_at(app) as c:
        assert is_problem(await purchase(c, drop["id"], buyer, first), 403, "fcode_invalid")
        order = (await purchase(c, drop["id"], buyer, second)).json()
        await c.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                     headers=buyer.headers)
    assert is_problem(await client.post(f"/api/admin/fcodes/{second}/revoke", headers=operator.headers),
                      409, "fcode_redeemed")
    unknown = code_with("")
    assert is_problem(await client.post(f"/api/admin/fcodes/{unknown}/revoke", headers=operator.headers),
                      404, "fcode_not_found")
    assert is_problem(await client.post("/api/admin/fcodes/garbage/revoke", headers=operator.headers),
                      422, "fcode_malformed")


async def test_stats_count_issued_redeemed_expired_per_month(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    before = (await client.get("/api/admin/fcodes/stats", headers=operator.headers)).json()["totals"]
    drop = await create_drop(client, operator, stock=5)
    service = codes_service(app)
    first, second = (c["code"] for c in await claim(client, employee))
    past = await service.issue("2024-01", owner_ids=[employee.id])  # long expired
    assert past.issued == 2
    async with client_at(app) as c:
        order = (await purchase(c, drop["id"], buyer, first)).json()
        await c.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                     headers=buyer.headers)
    await client.post(f"/api/admin/fcodes/{second}/revoke", headers=operator.headers)
    response = await client.get("/api/admin/fcodes/stats", headers=operator.headers)
    assert response.status_code == 200
    after = response.json()["totals"]
    # (available and reserved move with other tests' orders expiring in the background)
    delta = {k: after[k] - before[k] for k in ("issued", "redeemed", "expired", "revoked")}
    assert delta == {"issued": 4, "redeemed": 1, "expired": 2, "revoked": 1}
    months = {m["month"]: m for m in response.json()["months"]}
    assert months["2024-01"]["expired"] >= 2 and months["2024-01"]["issued"] >= 2
    listed = await my_codes(client, employee)
    assert sorted(c["status"] for c in listed.values()) == ["expired", "expired", "redeemed", "revoked"]


async def test_an_expired_code_lost_from_redis_can_still_be_revoked(app: FastAPI,
                                                                    client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    service = codes_service(app)
    assert (await service.issue("2024-02", owner_ids=[employee.id])).issued == 2
    old = next(iter(await my_codes(client, employee)))
    assert (await my_codes(client, employee))[old]["status"] == "expired"
    runtime = runtime_of(app)
    await runtime.redis.delete(runtime.keys.fcode(service.crypto.lookup_hash(canonical(old))))
    revoked = await client.post(f"/api/admin/fcodes/{old}/revoke", headers=operator.headers)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert (await my_codes(client, employee))[old]["status"] == "revoked"
