"""Order numbers, addresses and checkout (API.md "Addresses and checkout", an order's `number` and
`shipping`): numbers decided in Redis, unique and continued after Redis lost the drop; addresses are
the caller's own; paying with one records `shipping`, a shipping drop refuses payment without one;
no address ever reaches a log line."""
from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from accounts.addresses.exceptions import AddressNotFound
from accounts.addresses.schemas import Shipping
from sale.models import Order
from tests.support import (
    buy,
    create_drop,
    eventually,
    is_problem,
    make_account,
    make_accounts,
    runtime_of,
    services_of,
    stats,
)

ADDRESS: dict[str, Any] = {"name": "王小明", "phone": "+86 138 0013 8000", "country": "cn", "region": "北京市",
                           "city": "北京", "line1": "海淀区清河中街68号 5-1203", "postal_code": "100085"}


async def sql_orders(app: FastAPI, drop_id: int) -> list[Order]:
    async with runtime_of(app).sessions() as session:
        return list((await session.execute(select(Order).where(Order.drop_id == drop_id))).scalars().all())


async def add_address(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/me/addresses", json={**ADDRESS, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    address: dict[str, Any] = response.json()
    return address


async def test_addresses_are_the_callers_own(app: FastAPI, client: httpx.AsyncClient) -> None:
    me, other = await make_account(app), await make_account(app)
    assert (await client.get("/api/me/addresses")).status_code == 401
    first = await add_address(client, me.headers)
    assert first["country"] == "CN" and first["line2"] is None and isinstance(first["id"], int)
    second = await add_address(client, me.headers, name="Kim Minji", country="KR", line2="Apt 3")
    listed = (await client.get("/api/me/addresses", headers=me.headers)).json()
    assert [a["id"] for a in listed] == [first["id"], second["id"]]
    assert (await client.get("/api/me/addresses", headers=other.headers)).json() == []
    assert is_problem(await client.delete(f"/api/me/addresses/{first['id']}", headers=other.headers),
                      404, "address_not_found")
    assert (await client.delete(f"/api/me/addresses/{first['id']}", headers=me.headers)).status_code == 204
    assert is_problem(await client.delete(f"/api/me/addresses/{first['id']}", headers=me.headers),
                      404, "address_not_found")
    assert is_problem(await client.delete("/api/me/addresses/x1", headers=me.headers), 404, "address_not_found")
    assert [a["id"] for a in (await client.get("/api/me/addresses", headers=me.headers)).json()] == [second["id"]]


@pytest.mark.parametrize("bad", [
    {"phone": "call me"}, {"country": "CHN"}, {"name": ""}, {"line1": "x\u202ey"}, {"city": "c" * 101},
    {"postal_code": "<b>"}, {"extra": 1}, {"line1": None},
])
async def test_bad_addresses_are_422(app: FastAPI, client: httpx.AsyncClient, bad: dict[str, Any]) -> None:
    me = await make_account(app)
    response = await client.post("/api/me/addresses", json={**ADDRESS, **bad}, headers=me.headers)
    assert is_problem(response, 422, "validation_error")


async def test_address_book_is_capped(app: FastAPI, client: httpx.AsyncClient,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    me = await make_account(app)
    monkeypatch.setattr(services_of(app).addresses, "max_addresses", 2)
    await add_address(client, me.headers)
    await add_address(client, me.headers)
    assert is_problem(await client.post("/api/me/addresses", json=ADDRESS, headers=me.headers),
                      409, "too_many_addresses")


async def test_order_numbers_unique_under_a_rush_and_continued_after_redis_lost_them(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 40)
    drop = await create_drop(client, operator, stock=30)
    url = f"/api/drops/{drop['id']}/purchase"
    answers = await asyncio.gather(*(client.post(url, json={"quantity": 1}, headers=b.headers) for b in buyers[:25]))
    orders = [r.json() for r in answers if r.status_code == 201]
    assert len(orders) == 25
    numbers = [o["number"] for o in orders]
    assert all(re.fullmatch(rf"{drop['id']}-\d{{5}}", n) for n in numbers), numbers
    assert sorted(int(n.split("-")[1]) for n in numbers) == list(range(1, 26))
    # The order's own answer and the list carry the same number.
    again = (await client.get(f"/api/orders/{orders[0]['id']}", headers=buyers[0].headers)).json()
    assert again["number"] == orders[0]["number"] and again["variant"] is None and again["shipping"] is None

    async def sunk() -> bool:
        return len([r for r in await sql_orders(app, drop["id"]) if r.number]) == 25

    await eventually(sunk)
    # Redis loses the drop (a flush, a failover): the numbers go on after the highest in SQL.
    runtime = runtime_of(app)
    await runtime.redis.delete(*runtime.keys.drop(drop["id"]).all_keys())
    rest = await asyncio.gather(*(client.post(url, json={"quantity": 1}, headers=b.headers) for b in buyers[25:]))
    later = [r.json()["number"] for r in rest if r.status_code == 201]
    assert len(later) == 5 and sorted(int(n.split("-")[1]) for n in later) == list(range(26, 31))

    async def all_sunk() -> bool:
        rows = await sql_orders(app, drop["id"])
        return len(rows) == 30 and len({r.number for r in rows}) == 30

    await eventually(all_sunk)
    listed = (await client.get("/api/orders", headers=buyers[0].headers)).json()
    assert listed[0]["number"] == orders[0]["number"]


async def test_paying_with_an_address_records_shipping(app: FastAPI, client: httpx.AsyncClient,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # what the service logs (its drivers' debug logs stay off: app/cli.py)
    caplog.set_level(logging.DEBUG, logger="flashsale")
    operator, buyer, other = await make_account(app, "operator"), await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5, shipping_required=True)
    assert drop["shipping_required"] is True
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["shipping_required"] is True
    order = await buy(client, buyer, drop["id"])
    pay = f"/api/orders/{order['id']}/pay"
    # A shipping drop refuses payment without an address, and nothing changes.
    assert is_problem(await client.post(pay, json={"payment_token": "test_ok"}, headers=buyer.headers),
                      422, "address_required")
    st = await stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["paid"]) == (1, 0)
    # Someone else's address (or none at all) is not found.
    theirs = await add_address(client, other.headers)
    assert is_problem(await client.post(pay, json={"payment_token": "test_ok", "address_id": theirs["id"]},
                                        headers=buyer.headers), 404, "address_not_found")
    mine = await add_address(client, buyer.headers)
    paid = await client.post(pay, json={"payment_token": "test_ok", "address_id": mine["id"]}, headers=buyer.headers)
    assert paid.status_code == 200, paid.text
    shipping = paid.json()["shipping"]
    assert paid.json()["status"] == "paid" and shipping["line1"] == ADDRESS["line1"] and shipping["country"] == "CN"
    # Paying again answers the same order; deleting the address later leaves the order's copy.
    assert (await client.post(pay, json={"payment_token": "test_ok"}, headers=buyer.headers)).json()["shipping"] \
        == shipping
    assert (await client.delete(f"/api/me/addresses/{mine['id']}", headers=buyer.headers)).status_code == 204

    async def recorded() -> bool:
        rows = [r for r in await sql_orders(app, drop["id"]) if r.id == order["id"]]
        return bool(rows) and rows[0].status == "paid" and rows[0].shipping is not None

    await eventually(recorded)
    listed = (await client.get("/api/orders", headers=buyer.headers)).json()
    assert listed[0]["shipping"] == shipping and listed[0]["number"] == order["number"]
    # The share page shows no address.
    share = await client.get("/" + paid.json()["share_url"].split("://", 1)[1].split("/", 1)[1])
    assert share.status_code == 200
    assert ADDRESS["line1"] not in share.text and ADDRESS["phone"] not in share.text
    # No address reached a log line.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for personal in (ADDRESS["line1"], ADDRESS["phone"], ADDRESS["name"]):
        assert personal not in logged


async def test_a_drop_without_shipping_pays_without_an_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=2)
    assert drop["shipping_required"] is False
    order = await buy(client, buyer, drop["id"])
    paid = await client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                             headers=buyer.headers)
    assert paid.status_code == 200 and paid.json()["shipping"] is None and paid.json()["number"] == order["number"]


async def test_provider_payment_records_the_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    """pay_begin.lua keeps the address on the order (and refuses a shipping drop's order without one)."""
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=2, shipping_required=True)
    order = await buy(client, buyer, drop["id"])
    inventory, addresses = services_of(app).inventory, services_of(app).addresses
    state, _ = await inventory.begin_payment(drop["id"], order["id"], buyer.id, "stripe")
    assert state == "address_required"
    mine = await add_address(client, buyer.headers)
    shipping = await addresses.shipping(buyer.id, mine["id"])
    state, begun = await inventory.begin_payment(drop["id"], order["id"], buyer.id, "stripe", shipping=shipping)
    assert state == "begun" and begun is not None and begun.ship == shipping
    state, existing = await inventory.begin_payment(drop["id"], order["id"], buyer.id, "stripe")
    assert state == "existing" and existing is not None and existing.ship == shipping


async def test_the_address_copy_a_payment_reads(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The Redis copy of the address book: written with SQL, tombstoned on delete (not brought back by
    a fill from an older read), refilled from SQL when Redis lost it (on a payment, a listing, or at
    start-up once per Redis lifetime)."""
    buyer = await make_account(app)
    services, runtime = services_of(app), runtime_of(app)
    book, copy = services.addresses, services.addresses.copy
    key = runtime.keys.address_book(buyer.id)
    kept = await add_address(client, buyer.headers)
    gone = await add_address(client, buyer.headers, line1="Old street 1")
    assert set(await runtime.redis.hkeys(key)) == {str(kept["id"]).encode(), str(gone["id"]).encode()}
    stale = await book.shipping(buyer.id, gone["id"])
    assert (await client.delete(f"/api/me/addresses/{gone['id']}", headers=buyer.headers)).status_code == 204
    await copy.fill({buyer.id: [(gone["id"], stale)]})  # a fill from a read made before the delete
    assert await copy.get(buyer.id, gone["id"]) is None
    with pytest.raises(AddressNotFound):
        await book.shipping(buyer.id, gone["id"])
    # Redis lost the book: a payment's read goes to SQL once and copies what it read.
    await runtime.redis.delete(key)
    assert (await book.shipping(buyer.id, kept["id"])).line1 == ADDRESS["line1"]
    assert await runtime.redis.hkeys(key) == [str(kept["id"]).encode()]
    # Listing the book fills it too.
    await runtime.redis.delete(key)
    assert len((await client.get("/api/me/addresses", headers=buyer.headers)).json()) == 1
    assert isinstance(await copy.get(buyer.id, kept["id"]), Shipping)
    # A new (or flushed) Redis: the start-up copies every address, once.
    await runtime.redis.delete(key)
    await runtime.redis.delete(runtime.keys.address_books_copied)
    assert await book.backfill() >= 1
    assert isinstance(await copy.get(buyer.id, kept["id"]), Shipping)
    assert await book.backfill() == 0
