"""The waiting room through the API: fields, joining, challenges, tickets, admission at purchase."""
from __future__ import annotations

import asyncio
from contextvars import ContextVar
from datetime import datetime

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from sale.catalog import DropCatalog
from tests.support import create_drop, eventually, is_problem, make_account, make_accounts, runtime_of, services_of
from tests.support.fcodes import claim, client_at
from tests.support.queue import join, keys, room, sleep_until, solved, ticket


async def test_drop_carries_the_waiting_room_fields(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    plain = await create_drop(client, operator)
    assert (plain["waiting_room"], plain["prequeue_minutes"], plain["challenge"]) == (False, 15, False)
    assert plain["admit_per_second"] >= 1
    drop = await room(client, operator, 60, prequeue_minutes=5, admit_per_second=7, challenge=None)
    assert (drop["waiting_room"], drop["prequeue_minutes"], drop["admit_per_second"], drop["challenge"]) == (
        True, 5, 7, True)
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert shown["waiting_room"] is True and shown["admit_per_second"] == 7
    bad = await client.post("/api/admin/drops", headers=operator.headers,
                            json={"sku": "x-1", "name": "n", "price_cents": 1, "currency": "CNY", "stock": 1,
                                  "waiting_room": True, "admit_per_second": 0})
    assert is_problem(bad, 422, "validation_error")


async def test_join_window_idempotence_and_ticket(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, other = await make_accounts(app, 2)
    early = await room(client, operator, 3600, prequeue_minutes=15)
    assert is_problem(await join(app, early["id"], buyer), 403, "queue_not_open")
    plain = await create_drop(client, operator)
    assert is_problem(await join(app, plain["id"], buyer), 404, "no_waiting_room")

    drop = await room(client, operator, 2, prequeue_minutes=15)
    assert is_problem(await client.get(f"/api/drops/{drop['id']}/queue", headers=buyer.headers), 404, "not_in_queue")
    first = await join(app, drop["id"], buyer)
    assert first.status_code == 200, first.text
    # Before starts_at nobody has a place yet: they are drawn at the start.
    assert first.json()["status"] == "waiting" and first.json()["position"] is None
    again = await join(app, drop["id"], buyer)
    assert again.status_code == 200 and again.json()["status"] == "waiting"
    assert (await join(app, drop["id"], other)).status_code == 200
    assert (await client.get(f"/api/drops/{drop['id']}/queue")).status_code == 401
    await sleep_until(datetime.fromisoformat(drop["starts_at"]), 0.05)
    mine, theirs = await ticket(client, drop["id"], buyer), await ticket(client, drop["id"], other)
    # Admissions may have begun: positions are 1 and 2, or the ticket is admitted already.
    assert {mine["status"], theirs["status"]} <= {"waiting", "admitted"}
    waiting = sorted(t["position"] for t in (mine, theirs) if t["status"] == "waiting")
    assert waiting == list(range(3 - len(waiting), 3)) or waiting == list(range(1, len(waiting) + 1))
    assert (await client.get("/api/drops/abc/queue", headers=buyer.headers)).status_code == 404


async def test_purchase_needs_admission_and_uses_it_up(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, outsider = await make_accounts(app, 2)
    drop = await room(client, operator, 0.5, admit_per_second=100, per_user_limit=3)
    assert (await join(app, drop["id"], buyer)).status_code == 200
    url = f"/api/drops/{drop['id']}/purchase"

    async def admitted() -> bool:
        return (await ticket(client, drop["id"], buyer))["status"] == "admitted"

    await eventually(admitted, timeout=5)
    assert is_problem(await client.post(url, json={}, headers=outsider.headers), 403, "not_admitted")
    t = await ticket(client, drop["id"], buyer)
    assert t["position"] is None and datetime.fromisoformat(t["admitted_until"]) > datetime.now().astimezone()
    bought = await client.post(url, json={}, headers=buyer.headers)
    assert bought.status_code == 201, bought.text
    assert (await ticket(client, drop["id"], buyer))["status"] == "done"
    # The admission bought one order: the next purchase (within the per-user limit) needs a new one.
    assert is_problem(await client.post(url, json={}, headers=buyer.headers), 403, "not_admitted")
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert stats["queue"]["done"] == 1 and stats["rejected"]["not_admitted"] == 2
    assert stats["reserved"] == 1


async def test_a_valid_fcode_needs_no_admission(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    employee = await make_account(app, "employee")
    drop = await room(client, operator, -1)
    code = (await claim(client, employee))[0]["code"]
    url = f"/api/drops/{drop['id']}/purchase"
    assert is_problem(await client.post(url, json={}, headers=employee.headers), 403, "not_admitted")
    with_code = await client.post(url, json={"fcode": code}, headers=employee.headers)
    assert with_code.status_code == 201, with_code.text


async def test_challenge_is_required_single_use_and_bound(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, other = await make_accounts(app, 2)
    drop = await room(client, operator, 30, challenge=True)
    challenge = await client.get(f"/api/drops/{drop['id']}/queue/challenge", headers=buyer.headers)
    assert challenge.status_code == 200
    assert {"parameters", "signature"} <= set(challenge.json())
    assert is_problem(await join(app, drop["id"], buyer), 403, "challenge_failed")
    assert is_problem(await join(app, drop["id"], buyer, "bm90IGEgcGF5bG9hZA=="), 403, "challenge_failed")
    payload = await solved(client, drop["id"], buyer)
    assert is_problem(await join(app, drop["id"], other, payload), 403, "challenge_failed")  # someone else's
    assert (await join(app, drop["id"], buyer, payload)).status_code == 200
    assert is_problem(await join(app, drop["id"], buyer, payload), 403, "challenge_failed")  # replayed
    fresh = await solved(client, drop["id"], buyer)
    assert (await join(app, drop["id"], buyer, fresh)).status_code == 200  # a new solution: same ticket
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert stats["queue"]["waiting"] == 1


async def test_joins_are_limited_per_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    limit = runtime_of(app).settings.queue_joins_per_address
    farm = await make_accounts(app, limit + 2)
    drop = await room(client, operator, 30)
    answers = [await join(app, drop["id"], account, address="10.250.0.9") for account in farm]
    assert [a.status_code for a in answers] == [200] * limit + [429, 429]
    assert answers[-1].headers["retry-after"]
    assert (await join(app, drop["id"], farm[-1], address="10.250.0.10")).status_code == 200
    # One account hammering the join is limited too, whatever its address.
    per_account = runtime_of(app).settings.queue_attempts_per_account_minute
    codes = {(await join(app, drop["id"], farm[0])).status_code for _ in range(per_account)}
    assert codes == {200, 429}


async def test_sold_out_tells_everyone_waiting_at_once_and_they_keep_their_place(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 4)
    drop = await room(client, operator, 0.6, stock=1, admit_per_second=1)
    for buyer in buyers:
        assert (await join(app, drop["id"], buyer)).status_code == 200
    await sleep_until(datetime.fromisoformat(drop["starts_at"]), 1.2)

    first = None
    for buyer in buyers:
        if (await ticket(client, drop["id"], buyer))["status"] == "admitted":
            first = buyer
    assert first is not None
    order = await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=first.headers)
    assert order.status_code == 201
    others = [b for b in buyers if b is not first]
    tickets = [await ticket(client, drop["id"], b) for b in others]
    assert {t["status"] for t in tickets} == {"sold_out"}
    places = sorted(t["position"] for t in tickets)
    late = await make_account(app)
    assert is_problem(await join(app, drop["id"], late), 409, "sold_out")

    cancel = await client.post(f"/api/orders/{order.json()['id']}/cancel", headers=first.headers)
    assert cancel.status_code == 200
    tickets = [await ticket(client, drop["id"], b) for b in others]
    assert {t["status"] for t in tickets} <= {"waiting", "admitted"}
    assert sorted(t["position"] for t in tickets if t["status"] == "waiting")[0] >= places[0]


async def test_operator_changes_the_rate_during_the_sale(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    shopper = await make_account(app)
    drop = await room(client, operator, -1, admit_per_second=5)
    url = f"/api/admin/drops/{drop['id']}"
    assert (await client.patch(url, json={"admit_per_second": 9}, headers=shopper.headers)).status_code == 403
    assert is_problem(await client.patch(url, json={"admit_per_second": 0}, headers=operator.headers), 422)
    changed = await client.patch(url, json={"admit_per_second": 9}, headers=operator.headers)
    assert changed.status_code == 200 and changed.json()["admit_per_second"] == 9
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["admit_per_second"] == 9
    listed = {d["id"]: d for d in (await client.get("/api/drops")).json()}
    assert listed[drop["id"]]["admit_per_second"] == 9 and listed[drop["id"]]["waiting_room"] is True
    assert int(await runtime_of(app).redis.hget(keys(app, drop["id"]).inv, "admit_per_second")) == 9
    # Another worker reads the catalog from Redis: it shows the new rate and the room's fields too.
    runtime = runtime_of(app)
    elsewhere = await DropCatalog(runtime.redis, runtime.keys, runtime.sessions, runtime.clock,
                                  services_of(app).catalog.sync_script).get(drop["id"])
    assert elsewhere is not None and (elsewhere.admit_per_second, elsewhere.waiting_room) == (9, True)


async def test_polling_the_queue_costs_no_sql(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 20)
    drop = await room(client, operator, -1, admit_per_second=2)
    await join(app, drop["id"], buyers[0])  # the first touch loads the drop from SQL into Redis
    statements: list[tuple[str, str]] = []
    # Only what these requests run: the flag is set in this task's context, which the requests' tasks
    # inherit (httpx's ASGI transport runs the app in the caller's task, gather's tasks copy the
    # context). The app's background loops (sweeper, sink, draws, senders and any task they start)
    # were created before, in a context without it, and have schedules of their own.
    polling: ContextVar[bool] = ContextVar("polling", default=False)
    flag = polling.set(True)

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if polling.get():
            task = asyncio.current_task()
            statements.append((task.get_name() if task else "?", statement))

    engine = runtime_of(app).engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with client_at(app) as c:
            joins = [await c.post(f"/api/drops/{drop['id']}/queue", json={}, headers=b.headers) for b in buyers[1:]]
            polls = await asyncio.gather(*(c.get(f"/api/drops/{drop['id']}/queue", headers=b.headers)
                                           for b in buyers for _ in range(5)))
            # The counter is real: one SQL read through the same engine is seen (the catalog reads SQL
            # only for a drop it lacks, so the control asks for an unknown one).
            missing = await client.get(f"/api/drops/{drop['id'] + 100_000}")
    finally:
        event.remove(engine, "before_cursor_execute", count)
        polling.reset(flag)
    assert {j.status_code for j in joins} == {200} and {p.status_code for p in polls} == {200}
    assert missing.status_code == 404
    assert len(statements) >= 1 and all("drops" in s.lower() for _, s in statements), statements
    assert len(statements) <= 2, statements  # the control read only, nothing from 19 joins and 100 polls


async def test_challenges_get_harder_as_joins_pour_in(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    crowd = await make_accounts(app, 12)
    drop = await room(client, operator, 30)
    queue = services_of(app).queue
    quiet = queue.challenges.difficulty.max_number_for(await queue.gate.joins_last_second(drop["id"]))
    await asyncio.gather(*(join(app, drop["id"], buyer) for buyer in crowd))
    busy = queue.challenges.difficulty.max_number_for(await queue.gate.joins_last_second(drop["id"]))
    settings = runtime_of(app).settings
    assert quiet == settings.queue_challenge_min_number
    # Twelve joins at once (at least six in one whole second, should they straddle two).
    assert busy >= quiet + 6 * settings.queue_challenge_number_per_join
