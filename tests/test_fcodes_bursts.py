"""F-codes under parallel bursts: wrong codes are counted before they are checked (no more
evaluated than the limit), and one buyer bursting one code gets one order and plain refusals,
never orders that are created and then cancelled ("ghosts" in their order list)."""
from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI

from tests.support import create_drop, eventually, is_problem, make_account, runtime_of, stats
from tests.support.fcodes import claim, client_at, code_with, my_codes, purchase


async def test_a_parallel_burst_of_wrong_codes_is_counted_before_it_is_checked(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    limit = runtime_of(app).settings.fcode_max_failures
    operator, guesser = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=10)
    async with client_at(app) as c:
        answers = await asyncio.gather(*(purchase(c, drop["id"], guesser, code_with("")) for _ in range(40)))
    outcomes = Counter((r.status_code, r.json().get("code")) for r in answers)
    assert outcomes[(403, "fcode_invalid")] <= limit, outcomes  # evaluated: no more than the limit
    assert outcomes[(403, "fcode_invalid")] + outcomes[(429, "rate_limited")] == 40, outcomes


async def test_one_buyer_bursting_one_code_gets_one_order_and_no_ghosts(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    drop = await create_drop(client, operator, stock=50, per_user_limit=20)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as c:
        answers = await asyncio.gather(*(purchase(c, drop["id"], employee, code) for _ in range(20)))
        again = await purchase(c, drop["id"], employee, code)  # after the burst: the code is in the order
    outcomes = Counter((r.status_code, r.json().get("code")) for r in answers)
    assert outcomes[(201, None)] == 1, outcomes
    assert outcomes[(201, None)] + outcomes[(403, "fcode_invalid")] == 20, outcomes  # no 429: no failed guess
    assert is_problem(again, 403, "fcode_invalid"), again.text
    winner = next(r.json() for r in answers if r.status_code == 201)
    st = await stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["cancelled"]) == (1, 0), st  # no unit was taken and given back

    async def listed() -> bool:  # what the buyer sees, once the sink has written the order
        orders = (await client.get("/api/orders", headers=employee.headers)).json()
        return [o["id"] for o in orders] == [winner["id"]]

    await eventually(listed)
    await asyncio.sleep(0.5)  # a ghost would be streamed right after its order: give it time to land
    orders = (await client.get("/api/orders", headers=employee.headers)).json()
    assert [(o["id"], o["status"]) for o in orders] == [(winner["id"], "reserved")], orders
    assert (await my_codes(client, employee))[code]["order_id"] == winner["id"]


async def test_a_retry_with_its_idempotency_key_still_answers_the_order(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    drop = await create_drop(client, operator, stock=5, per_user_limit=3)
    code = (await claim(client, employee))[0]["code"]
    headers = {**employee.headers, "Idempotency-Key": "burst-retry-1"}
    async with client_at(app) as c:
        first = await c.post(f"/api/drops/{drop['id']}/purchase", json={"fcode": code}, headers=headers)
        assert first.status_code == 201, first.text
        retry = await c.post(f"/api/drops/{drop['id']}/purchase", json={"fcode": code}, headers=headers)
        other_key = await c.post(f"/api/drops/{drop['id']}/purchase", json={"fcode": code},
                                 headers={**employee.headers, "Idempotency-Key": "burst-retry-2"})
    assert retry.status_code == 201 and retry.json()["id"] == first.json()["id"]
    assert is_problem(other_key, 403, "fcode_invalid"), other_key.text
    st = await stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["cancelled"]) == (1, 0), st
