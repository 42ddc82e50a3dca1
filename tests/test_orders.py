"""Paying, cancelling and expiry: atomic against each other, each with its contract answer."""
from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from sale.models import Order
from tests.support import (
    create_drop,
    eventually,
    is_problem,
    iso,
    make_account,
    make_accounts,
    now,
    purchase,
    runtime_of,
    stats,
)
from tests.support.clock import Manual


async def sql_status(app: FastAPI, order_id: str) -> str | None:
    async with runtime_of(app).sessions() as session:
        return (await session.execute(select(Order.status).where(Order.id == order_id))).scalar_one_or_none()


async def test_pay_then_pay_again_charges_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer, other = (await make_account(app, "operator"), await make_account(app), await make_account(app))
    drop = await create_drop(client, operator, stock=3)
    order = (await purchase(client, drop["id"], buyer.headers)).json()
    pay = f"/api/orders/{order['id']}/pay"
    assert is_problem(await client.post(pay, json={"payment_token": "test_ok"}, headers=other.headers),
                      404, "order_not_found")
    assert is_problem(await client.get(f"/api/orders/{order['id']}", headers=other.headers), 404, "order_not_found")
    assert (await client.get(f"/api/orders/{order['id']}", headers=operator.headers)).status_code == 200
    declined = await client.post(pay, json={"payment_token": "test_decline"}, headers=buyer.headers)
    assert is_problem(declined, 402, "payment_declined")
    assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["status"] == "reserved"
    first = await client.post(pay, json={"payment_token": "test_ok"}, headers=buyer.headers)
    assert first.status_code == 200 and first.json()["status"] == "paid" and first.json()["paid_at"]
    again = await client.post(pay, json={"payment_token": "test_ok"}, headers=buyer.headers)
    assert again.status_code == 200 and again.json()["paid_at"] == first.json()["paid_at"]
    st = await stats(client, operator.headers, drop["id"])
    assert (st["paid"], st["reserved"], st["remaining"]) == (1, 0, 2)
    assert is_problem(await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers),
                      409, "order_not_cancellable")

    async def paid_in_sql() -> bool:
        return await sql_status(app, order["id"]) == "paid"

    await eventually(paid_in_sql)
    listed = (await client.get("/api/orders", headers=buyer.headers)).json()
    assert [o["id"] for o in listed] == [order["id"]] and listed[0]["status"] == "paid"


async def test_cancel_returns_units_and_is_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=1)
    order = (await purchase(client, drop["id"], buyer.headers)).json()
    cancel = f"/api/orders/{order['id']}/cancel"
    first = await client.post(cancel, headers=buyer.headers)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert (await client.post(cancel, headers=buyer.headers)).json()["status"] == "cancelled"
    st = await stats(client, operator.headers, drop["id"])
    assert (st["remaining"], st["cancelled"]) == (1, 1)
    assert is_problem(await client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                                        headers=buyer.headers), 409, "order_cancelled")
    # The limit counts held units only: the buyer may buy again after cancelling.
    assert (await purchase(client, drop["id"], buyer.headers)).status_code == 201


async def test_reservation_expires_on_time_without_requests(manual: Manual) -> None:
    app, client, clock = manual.app, manual.client, manual.clock
    operator, buyer, later = (await make_account(app, "operator"), await make_account(app), await make_account(app))
    drop = await create_drop(client, operator, stock=1, pay_window_seconds=2)
    order = (await purchase(client, drop["id"], buyer.headers)).json()
    assert is_problem(await purchase(client, drop["id"], later.headers), 409, "sold_out")

    async def expired_in_sql() -> bool:
        return await sql_status(app, order["id"]) == "expired"

    async def reserved_in_sql() -> bool:
        return await sql_status(app, order["id"]) == "reserved"

    await eventually(reserved_in_sql)  # the sink wrote it
    clock.advance(1.5)
    await asyncio.sleep(0.3)  # three sweeps (every 100 ms in tests) at 1.5 s into the pay window
    assert await sql_status(app, order["id"]) == "reserved"
    clock.advance(0.5)  # pay_by: the running sweeper expires it, no request touches the order
    await eventually(expired_in_sql, timeout=3.0)
    st = await stats(client, operator.headers, drop["id"])
    assert (st["remaining"], st["reserved"], st["expired"]) == (1, 0, 1)
    assert is_problem(await client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                                        headers=buyer.headers), 409, "order_expired")
    assert is_problem(await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers),
                      409, "order_expired")

    # The sold-out flag is short-lived (half a second of the process's own time): the unit sells again.
    async def sells_again() -> bool:
        return (await purchase(client, drop["id"], later.headers)).status_code == 201

    await eventually(sells_again, timeout=2.0, interval=0.1)


async def test_pay_racing_expiry_never_both(manual: Manual) -> None:
    app, client, clock = manual.app, manual.client, manual.clock
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 12)
    drop = await create_drop(client, operator, stock=12, pay_window_seconds=1)
    orders = [(await purchase(client, drop["id"], b.headers)).json() for b in buyers]  # one pay_by: time stands
    clock.advance(0.95)

    async def pay_by_passes() -> None:  # while the payments run and the sweeper (every 100 ms) expires
        for _ in range(10):
            await asyncio.sleep(0.01)
            clock.advance(0.01)

    stepping = asyncio.ensure_future(pay_by_passes())
    results = await asyncio.gather(*(
        client.post(f"/api/orders/{o['id']}/pay", json={"payment_token": "test_ok"}, headers=b.headers)
        for o, b in zip(orders, buyers, strict=True)))
    await stepping
    for r in results:
        assert r.status_code == 200 or is_problem(r, 409, "order_expired"), r.text
    paid = sum(r.status_code == 200 for r in results)
    clock.advance(1.5)  # past any payment lease too

    async def settled() -> bool:
        st = await stats(client, operator.headers, drop["id"])
        return (st["paid"], st["expired"], st["reserved"], st["remaining"]) == (paid, 12 - paid, 0, 12 - paid)

    await eventually(settled, timeout=3.0)

    async def settled_in_sql() -> bool:
        states = [await sql_status(app, o["id"]) for o in orders]
        return states.count("paid") == paid and states.count("expired") == 12 - paid

    await eventually(settled_in_sql)


async def test_phases_and_not_open(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    upcoming = await create_drop(client, operator, starts_at=iso(now() + timedelta(minutes=10)),
                                 ends_at=iso(now() + timedelta(hours=1)), priority_minutes=5)
    assert upcoming["phase"] == "upcoming"
    assert upcoming["priority_starts_at"] < upcoming["starts_at"]
    assert is_problem(await purchase(client, upcoming["id"], buyer.headers), 403, "not_open")
    priority = await create_drop(client, operator, starts_at=iso(now() + timedelta(minutes=10)),
                                 ends_at=iso(now() + timedelta(hours=1)), priority_minutes=30)
    assert priority["phase"] == "priority"
    assert is_problem(await purchase(client, priority["id"], buyer.headers), 403, "not_open")
    sold = await create_drop(client, operator, stock=1)
    assert (await purchase(client, sold["id"], buyer.headers)).status_code == 201
    assert (await client.get(f"/api/drops/{sold['id']}")).json()["phase"] == "sold_out"
    listed = [d["id"] for d in (await client.get("/api/drops")).json()]
    assert {upcoming["id"], priority["id"], sold["id"]} <= set(listed)
    st = await stats(client, operator.headers, upcoming["id"])
    assert st["rejected"] == {"not_open": 1} and st["attempts"] == 1
