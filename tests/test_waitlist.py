"""The waitlist after sell-out (issue 22): joining only once sold out, places in order and idempotent,
units that come back (expired, cancelled, refunded) kept for the waitlist and offered in order, a
holder buying within its hold, an unclaimed hold passing on, one message per hold, no oversell under a
crowd, and the stats. Real Redis and database, a test clock (tests/support/clock.py)."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select
from sqlmodel import col

from messages.models import Message
from sale.waitlist.recorder import HoldMessages
from tests.support import (
    Account,
    buy,
    create_drop,
    eventually,
    is_problem,
    make_account,
    make_accounts,
    pay,
    purchase,
    runtime_of,
    stats,
)
from tests.support.clock import Manual
from tests.support.draws import create_draw
from tests.support.queue import join as queue_join
from tests.support.queue import room, ticket


def path(drop: dict[str, Any]) -> str:
    return f"/api/drops/{drop['id']}/waitlist"


async def join(client: httpx.AsyncClient, drop: dict[str, Any], account: Account) -> dict[str, Any]:
    answer = await client.put(path(drop), headers=account.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def held(client: httpx.AsyncClient, drop: dict[str, Any], account: Account) -> None:
    """Waits until a unit is held for the account (the sweeper's offer step runs every 0.1 s)."""

    async def holds() -> bool:
        answer = await client.get(path(drop), headers=account.headers)
        return answer.status_code == 200 and answer.json()["status"] == "held"

    await eventually(holds)


async def hold_messages(manual: Manual, drop_id: int, user_id: int | None = None) -> int:
    async with runtime_of(manual.app).sessions() as session:
        query = select(func.count()).select_from(Message).where(col(Message.kind) == "waitlist_hold",
                                                                 col(Message.drop_id) == drop_id)
        if user_id is not None:
            query = query.where(col(Message.user_id) == user_id)
        return int((await session.execute(query)).scalar_one())


async def sold_out(manual: Manual, operator: Account, **overrides: Any) -> tuple[dict[str, Any], list[str]]:
    """A drop whose every unit is reserved by a buyer of its own: the drop and those orders' ids."""
    drop = await create_drop(manual.client, operator, pay_window_seconds=60, **overrides)
    buyers = await make_accounts(manual.app, drop["stock"])
    orders = [await buy(manual.client, b, drop["id"]) for b in buyers]
    manual.buyers = buyers  # type: ignore[attr-defined]
    return drop, [o["id"] for o in orders]


async def test_joining_only_once_sold_out_in_order_idempotent_and_leaving(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_drop(client, operator, stock=2, waitlist_hold_minutes=3)
    assert drop["waitlist_hold_minutes"] == 3
    first, second, third, fourth = await make_accounts(manual.app, 4)
    refused = await client.put(path(drop), headers=first.headers)
    assert is_problem(refused, 409, "not_sold_out")
    assert is_problem(await client.get(path(drop), headers=first.headers), 404, "not_on_waitlist")
    assert is_problem(await client.put(path(drop)), 401)
    assert is_problem(await client.put("/api/drops/999999999/waitlist", headers=first.headers), 404, "drop_not_found")
    await buy(client, first, drop["id"])
    await buy(client, second, drop["id"])
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["phase"] == "sold_out"
    # A buyer at the per-user limit could not buy what it would be offered.
    assert is_problem(await client.put(path(drop), headers=first.headers), 409, "limit_reached")
    waiters = await make_accounts(manual.app, 3)
    places = await asyncio.gather(*(join(client, drop, w) for w in waiters))
    assert sorted(p["position"] for p in places) == [1, 2, 3]
    assert all(p["status"] == "waiting" and p["held_until"] is None for p in places)
    by_place = [w for _, w in sorted(zip([p["position"] for p in places], waiters, strict=True))]
    for _ in range(2):  # joining again: the same place
        again = await join(client, drop, by_place[1])
        assert again["position"] == 2
    assert (await client.get(path(drop), headers=by_place[2].headers)).json()["position"] == 3
    assert (await client.delete(path(drop), headers=by_place[1].headers)).status_code == 204
    assert is_problem(await client.delete(path(drop), headers=by_place[1].headers), 404, "not_on_waitlist")
    assert (await client.get(path(drop), headers=by_place[2].headers)).json()["position"] == 2
    assert (await join(client, drop, by_place[1]))["position"] == 3  # back in, at the end
    assert (await join(client, drop, third))["position"] == 4
    del fourth
    waitlist = (await stats(client, operator.headers, drop["id"]))["waitlist"]
    assert waitlist == {"waiting": 4, "holds_active": 0, "joined": 5, "offered": 0, "claimed": 0, "passed": 0,
                        "left": 1}


async def test_waitlist_hold_minutes_is_a_drop_field(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_drop(client, operator)
    assert drop["waitlist_hold_minutes"] == 10
    bad = await client.post("/api/admin/drops", headers=operator.headers, json={
        "sku": "x-1", "name": "x", "price_cents": 1, "currency": "CNY", "stock": 1, "waitlist_hold_minutes": 0})
    assert is_problem(bad, 422, "validation_error")
    changed = await client.patch(f"/api/admin/drops/{drop['id']}", json={"waitlist_hold_minutes": 25},
                                 headers=operator.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["waitlist_hold_minutes"] == 25
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["waitlist_hold_minutes"] == 25
    clone = await client.post(f"/api/admin/drops/{drop['id']}/clone", json={}, headers=operator.headers)
    assert clone.status_code == 201 and clone.json()["waitlist_hold_minutes"] == 25


async def test_returned_units_go_to_the_waitlist_first_and_the_holder_buys(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop, orders = await sold_out(manual, operator, stock=3, waitlist_hold_minutes=5)
    buyers: list[Account] = manual.buyers  # type: ignore[attr-defined]
    w1, w2, w3, outsider = await make_accounts(manual.app, 4)
    assert (await join(client, drop, w1))["position"] == 1
    assert (await join(client, drop, w2))["position"] == 2
    assert (await join(client, drop, w3))["position"] == 3
    # Cancelled: the unit is back, but for the waitlist, even before the offer step ran.
    cancelled = await client.post(f"/api/orders/{orders[0]}/cancel", headers=buyers[0].headers)
    assert cancelled.status_code == 200, cancelled.text
    assert is_problem(await purchase(client, drop["id"], outsider.headers), 409, "sold_out")
    await held(client, drop, w1)
    mine = (await client.get(path(drop), headers=w1.headers)).json()
    assert mine["position"] is None and mine["held_until"] is not None
    assert (await join(client, drop, w1))["status"] == "held"  # joining again answers the hold
    assert (await client.get(path(drop), headers=w2.headers)).json()["position"] == 1
    assert is_problem(await purchase(client, drop["id"], outsider.headers), 409, "sold_out")
    assert is_problem(await purchase(client, drop["id"], w2.headers), 409, "sold_out")  # waiting, no hold
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["remaining"] == 0
    counted = await stats(client, operator.headers, drop["id"])  # the held unit is in the stats' remaining
    assert counted["remaining"] == 1 and counted["remaining"] + counted["reserved"] + counted["paid"] == 3
    assert counted["waitlist"]["holds_active"] == 1
    order = await buy(client, w1, drop["id"])
    assert order["status"] == "reserved"
    await pay(client, w1, order["id"])
    assert is_problem(await client.get(path(drop), headers=w1.headers), 404, "not_on_waitlist")
    # Paid, then refunded by an operator: that unit is back too, and goes to the next in line.
    await pay(client, buyers[1], orders[1])
    refunded = await client.post(f"/api/admin/orders/{orders[1]}/refund", headers=operator.headers)
    assert refunded.status_code == 200, refunded.text
    await held(client, drop, w2)
    assert is_problem(await purchase(client, drop["id"], outsider.headers), 409, "sold_out")
    await pay(client, w2, (await buy(client, w2, drop["id"]))["id"])
    # Expired: past its pay window the third buyer's unit comes back, for w3.
    manual.clock.advance(61)
    await held(client, drop, w3)
    assert is_problem(await purchase(client, drop["id"], outsider.headers), 409, "sold_out")
    await buy(client, w3, drop["id"])

    async def told() -> bool:
        return await hold_messages(manual, drop["id"]) == 3

    await eventually(told)
    for waiter in (w1, w2, w3):
        messages = (await client.get("/api/me/messages", headers=waiter.headers)).json()
        holds = [m for m in messages if m["kind"] == "waitlist_hold"]
        assert len(holds) == 1 and holds[0]["drop_id"] == drop["id"], messages
        assert "held for you" in holds[0]["text"]
    # Nobody waits now: w3's order expiring (never paid) frees a unit for anyone.
    manual.clock.advance(61)

    async def back_on_sale() -> bool:
        return bool((await client.get(f"/api/drops/{drop['id']}")).json()["remaining"] >= 1)

    await eventually(back_on_sale)
    assert (await purchase(client, drop["id"], outsider.headers)).status_code == 201
    waitlist = (await stats(client, operator.headers, drop["id"]))["waitlist"]
    assert waitlist == {"waiting": 0, "holds_active": 0, "joined": 3, "offered": 3, "claimed": 3, "passed": 0,
                        "left": 0}


async def test_an_unclaimed_hold_passes_to_the_next_and_each_hold_is_told_once(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop, orders = await sold_out(manual, operator, stock=1, waitlist_hold_minutes=1)
    buyer = manual.buyers[0]  # type: ignore[attr-defined]
    w1, w2 = await make_accounts(manual.app, 2)
    await join(client, drop, w1)
    await join(client, drop, w2)
    assert (await client.post(f"/api/orders/{orders[0]}/cancel", headers=buyer.headers)).status_code == 200
    await held(client, drop, w1)
    assert is_problem(await purchase(client, drop["id"], w2.headers), 409, "sold_out")
    manual.clock.advance(61)  # w1 lets its hold pass
    await held(client, drop, w2)
    assert is_problem(await purchase(client, drop["id"], w1.headers), 409, "sold_out")
    assert is_problem(await client.get(path(drop), headers=w1.headers), 404, "not_on_waitlist")

    async def both_told() -> bool:
        return await hold_messages(manual, drop["id"]) == 2

    await eventually(both_told)
    assert await hold_messages(manual, drop["id"], w1.id) == 1
    assert await hold_messages(manual, drop["id"], w2.id) == 1
    # The sink may deliver a stream entry again (a crash before its acknowledgement): nothing is written twice.
    runtime = runtime_of(manual.app)
    async with runtime.sessions() as session:
        keys = (await session.execute(select(col(Message.key), col(Message.user_id)).where(
            col(Message.kind) == "waitlist_hold", col(Message.drop_id) == drop["id"]))).all()
    again = [orjson.dumps([{"user_id": user_id, "hold": int(key.split(":")[3]), "until_ms": int(key.split(":")[4])}])
             for key, user_id in keys]
    async with runtime.sessions.begin() as session:
        await HoldMessages(runtime.clock).record_holds(session, drop["id"], again)
    assert await hold_messages(manual, drop["id"]) == 2
    waitlist = (await stats(client, operator.headers, drop["id"]))["waitlist"]
    assert waitlist == {"waiting": 0, "holds_active": 1, "joined": 2, "offered": 2, "claimed": 0, "passed": 1,
                        "left": 0}
    # Leaving while holding gives the unit up: with nobody waiting it is anyone's.
    assert (await client.delete(path(drop), headers=w2.headers)).status_code == 204
    assert (await purchase(client, drop["id"], w1.headers)).status_code == 201


async def test_a_crowd_never_gets_a_returned_unit_while_someone_waits(manual: Manual) -> None:
    """Buyers cancel while a crowd without holds hammers the purchase: every returned unit goes to a
    waitlister; the holders, racing with themselves, take exactly one unit each; nothing is oversold."""
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop, orders = await sold_out(manual, operator, stock=12, waitlist_hold_minutes=5)
    buyers: list[Account] = manual.buyers  # type: ignore[attr-defined]
    waiters = await make_accounts(manual.app, 6)
    for waiter in waiters:
        await join(client, drop, waiter)
    crowd = await make_accounts(manual.app, 30)
    taken: list[httpx.Response] = []
    stop = asyncio.Event()

    async def hammer(account: Account) -> None:
        while not stop.is_set():
            taken.append(await purchase(client, drop["id"], account.headers))
            await asyncio.sleep(0)

    async def cancel_some() -> None:
        for buyer, order_id in zip(buyers[:6], orders[:6], strict=True):
            answer = await client.post(f"/api/orders/{order_id}/cancel", headers=buyer.headers)
            assert answer.status_code == 200, answer.text
            await asyncio.sleep(0.02)
        for waiter in waiters:
            await held(client, drop, waiter)
        stop.set()

    await asyncio.gather(cancel_some(), *(hammer(a) for a in crowd))
    assert len(taken) > 100
    assert all(is_problem(r, 409, "sold_out") for r in taken), {r.status_code for r in taken}
    # Every holder fires five purchases at once: one unit each.
    answers = await asyncio.gather(*(purchase(client, drop["id"], w.headers) for w in waiters for _ in range(5)))
    assert sum(a.status_code == 201 for a in answers) == 6
    assert all(a.status_code == 201 or is_problem(a, 409) for a in answers)
    # Nobody waits now: units that come back are anyone's, once, whatever the crowd sends.
    for buyer, order_id in zip(buyers[6:9], orders[6:9], strict=True):
        assert (await client.post(f"/api/orders/{order_id}/cancel", headers=buyer.headers)).status_code == 200
    sold = 0
    for _ in range(20):  # rounds until a worker's half-second sold-out flag (sale/purchase.py) has lapsed
        rush = await asyncio.gather(*(purchase(client, drop["id"], a.headers) for a in crowd for _ in range(3)))
        assert all(r.status_code == 201 or is_problem(r, 409) for r in rush)
        sold += sum(r.status_code == 201 for r in rush)
        if sold >= 3:
            break
        await asyncio.sleep(0.1)
    assert sold == 3
    final = await stats(client, operator.headers, drop["id"])
    assert final["remaining"] == 0 and final["reserved"] == 12
    assert final["waitlist"]["offered"] == 6 and final["waitlist"]["claimed"] == 6


async def test_a_hold_is_for_any_variant_with_stock(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await create_drop(client, operator, pay_window_seconds=60, stock=2, variants=[
        {"sku": "red-1", "name": "Red", "stock": 1}, {"sku": "blue-1", "name": "Blue", "stock": 1}])
    red, blue, waiter, outsider = await make_accounts(manual.app, 4)
    red_order = await buy(client, red, drop["id"], variant="red-1")
    await buy(client, blue, drop["id"], variant="blue-1")
    await join(client, drop, waiter)
    assert (await client.post(f"/api/orders/{red_order['id']}/cancel", headers=red.headers)).status_code == 200
    assert is_problem(await purchase(client, drop["id"], outsider.headers, variant="red-1"), 409, "sold_out")
    await held(client, drop, waiter)
    assert is_problem(await purchase(client, drop["id"], waiter.headers, variant="blue-1"), 409, "sold_out")
    order = await buy(client, waiter, drop["id"], variant="red-1")
    assert order["variant"] == "red-1"


async def test_a_draw_or_an_ended_drop_takes_no_waitlist(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop, _ = await sold_out(manual, operator, stock=1)
    waiter = await make_account(manual.app)
    draw = await create_draw(manual, operator, stock=1)
    assert is_problem(await client.put(path(draw), headers=waiter.headers), 409, "waitlist_closed")
    manual.clock.advance(3601)  # past ends_at
    assert is_problem(await client.put(path(drop), headers=waiter.headers), 409, "waitlist_closed")


async def test_a_holder_buys_on_a_waiting_room_drop_without_an_admission(manual: Manual) -> None:
    client = manual.client
    operator = await make_account(manual.app, "operator")
    drop = await room(client, operator, starts_in=-1, stock=1, pay_window_seconds=60)
    buyer, waiter, outsider = await make_accounts(manual.app, 3)
    assert (await queue_join(manual.app, drop["id"], buyer)).status_code == 200

    async def admitted() -> bool:
        return (await ticket(client, drop["id"], buyer))["status"] == "admitted"

    await eventually(admitted)
    order = await buy(client, buyer, drop["id"])
    await join(client, drop, waiter)
    assert (await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)).status_code == 200
    await held(client, drop, waiter)
    assert is_problem(await purchase(client, drop["id"], outsider.headers), 409, "sold_out")
    assert (await purchase(client, drop["id"], waiter.headers)).status_code == 201
