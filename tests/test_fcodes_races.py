"""F-codes under concurrency and failure: one code never buys two units, a crash burns nothing,
a lost Redis state comes back from SQL, and no dump holds a usable code."""
from __future__ import annotations

import asyncio
import secrets
from collections import Counter

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlmodel import SQLModel

from codes.format import canonical, display
from codes.gate import Lease
from codes.models import FCode
from sale.purchase_script import Purchase, PurchaseRequest
from tests.support import create_drop, eventually, is_problem, make_account, make_accounts, runtime_of, services_of
from tests.support.fcodes import (
    claim,
    client_at,
    codes_service,
    gate_of,
    my_codes,
    purchase,
    sql_row,
)


async def drop_stats(client: httpx.AsyncClient, headers: dict[str, str], drop_id: int) -> dict[str, int]:
    data: dict[str, int] = (await client.get(f"/api/admin/drops/{drop_id}/stats", headers=headers)).json()
    assert data["remaining"] + data["reserved"] + data["paid"] == data["stock"]
    return data


async def test_twenty_concurrent_purchases_with_one_code_take_one_unit(app: FastAPI,
                                                                       client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    buyers = await make_accounts(app, 20)
    drop = await create_drop(client, operator, stock=50, per_user_limit=5)
    code = (await claim(client, employee))[0]["code"]
    clients = [client_at(app) for _ in buyers]
    opened = [await c.__aenter__() for c in clients]
    try:
        responses = await asyncio.gather(*(purchase(c, drop["id"], b, code)
                                           for c, b in zip(opened, buyers, strict=True)))
    finally:
        for c in clients:
            await c.__aexit__(None, None, None)
    outcomes = Counter((r.status_code, r.json().get("code")) for r in responses)
    assert outcomes == {(201, None): 1, (403, "fcode_invalid"): 19}, outcomes
    winner = next(r.json() for r in responses if r.status_code == 201)
    st = await drop_stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["remaining"]) == (1, 49)
    listed = (await my_codes(client, employee))[code]
    assert (listed["status"], listed["order_id"]) == ("reserved", winner["id"])


async def test_twenty_concurrent_purchases_one_buyer_one_code(app: FastAPI,
                                                              client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=50, per_user_limit=20)
    code = (await claim(client, employee))[0]["code"]
    async with client_at(app) as c:
        responses = await asyncio.gather(*(purchase(c, drop["id"], buyer, code) for _ in range(20)))
    outcomes = Counter(r.status_code for r in responses)
    # The losers are failed attempts: after five of them the buyer waits (429).
    assert outcomes[201] == 1 and outcomes[201] + outcomes[403] + outcomes[429] == 20, outcomes
    assert (await drop_stats(client, operator.headers, drop["id"]))["reserved"] == 1


async def test_a_purchase_cut_off_after_the_lease_burns_nothing(app: FastAPI,
                                                                client: httpx.AsyncClient) -> None:
    """The worker dies between the lease and the unit: the lease runs out and the code is usable."""
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=3)
    code = (await claim(client, employee))[0]["code"]
    gate = gate_of(app)
    import codes.gate as gate_module

    original = gate_module.LEASE_MS
    gate_module.LEASE_MS = 400
    try:
        async def leased_then_crashed() -> None:
            await gate.lease(code, buyer.id, drop["sku"], "10.9.9.9")

        await asyncio.create_task(leased_then_crashed())  # its own context: nobody confirms or releases
    finally:
        gate_module.LEASE_MS = original
    async with client_at(app) as c:
        assert is_problem(await purchase(c, drop["id"], buyer, code), 403, "fcode_invalid")  # still leased
        await asyncio.sleep(0.5)
        assert (await purchase(c, drop["id"], buyer, code)).status_code == 201
    st = await drop_stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["remaining"]) == (1, 2)


async def test_a_stale_confirm_gives_its_unit_back(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Two orders hold one code (a lease ran out under a slow purchase): the second to confirm loses
    its unit, so the code still buys one unit only."""
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    slow, fast = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    code = (await claim(client, employee))[0]["code"]
    gate, services = gate_of(app), services_of(app)
    code_hash = gate.crypto.lookup_hash(canonical(code))
    slow_order = f"{drop['id']}-{secrets.token_hex(10)}"
    await services.loader.load_by_id(drop["id"])
    took = await services.inventory.purchase(Purchase(PurchaseRequest(drop["id"], slow.id, 1, 0), slow_order,
                                                      fcode_hash=code_hash))
    assert took.outcome == "ok"  # the slow purchase took its unit; its lease is long gone
    async with client_at(app) as c:
        fast_order = await purchase(c, drop["id"], fast, code)
    assert fast_order.status_code == 201
    with pytest.raises(Exception) as refused:
        await gate.confirm(Lease(code_hash), slow_order)  # its lease long gone
    assert getattr(refused.value, "code", None) == "fcode_invalid"
    assert (await services.inventory.order(drop["id"], slow_order)).status == "cancelled"
    st = await drop_stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["cancelled"]) == (1, 1)
    assert (await my_codes(client, employee))[code]["order_id"] == fast_order.json()["id"]


@pytest.mark.cluster  # FLUSHALL reaches every primary
async def test_lost_redis_state_is_rebuilt_from_sql(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    buyer, other = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    first, second = (c["code"] for c in await claim(client, employee))
    runtime, gate = runtime_of(app), gate_of(app)

    def key(code: str) -> str:
        return runtime.keys.fcode(gate.crypto.lookup_hash(canonical(code)))

    await runtime.redis.delete(key(first))
    async with client_at(app) as c:
        order = await purchase(c, drop["id"], buyer, first)  # rebuilt on the miss
        assert order.status_code == 201

        async def recorded() -> bool:
            row = await sql_row(app, first)
            return row is not None and row.status == "reserved"

        await eventually(recorded)
        await runtime.redis.delete(key(first))
        assert is_problem(await purchase(c, drop["id"], other, first), 403, "fcode_invalid")  # still reserved
        assert (await my_codes(client, employee))[first]["order_id"] == order.json()["id"]
        # Listing does not need Redis: a code it lacks shows its record.
        await runtime.redis.delete(key(second))
        assert (await my_codes(client, employee))[second]["status"] == "available"


async def test_paying_an_order_whose_confirm_never_ran_redeems_the_code(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=5)
    code = (await claim(client, employee))[0]["code"]
    gate, services = gate_of(app), services_of(app)
    code_hash = gate.crypto.lookup_hash(canonical(code))
    order_id = f"{drop['id']}-{secrets.token_hex(10)}"
    await services.loader.load_by_id(drop["id"])
    took = await services.inventory.purchase(Purchase(PurchaseRequest(drop["id"], buyer.id, 1, 0), order_id,
                                                      fcode_hash=code_hash))
    assert took.outcome == "ok"  # and the worker died before confirm
    assert (await my_codes(client, employee))[code]["status"] == "available"
    paid = await client.post(f"/api/orders/{order_id}/pay", json={"payment_token": "test_ok"},
                             headers=buyer.headers)
    assert paid.status_code == 200, paid.text
    listed = (await my_codes(client, employee))[code]
    assert (listed["status"], listed["order_id"]) == ("redeemed", order_id)


async def test_dumps_hold_no_usable_code(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employees = await make_account(app, "operator"), await make_accounts(app, 3, "employee")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    for employee in employees:
        await claim(client, employee)
    code = (await my_codes(client, employees[0])).popitem()[0]
    async with client_at(app) as c:
        order = (await purchase(c, drop["id"], buyer, code)).json()
        await c.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                     headers=buyer.headers)
    await codes_service(app).sync.drain()
    runtime, crypto = runtime_of(app), gate_of(app).crypto
    async with runtime.sessions() as session:
        encrypted = (await session.execute(text("SELECT code_enc FROM fcodes"))).scalars().all()
        database: list[str] = []
        for table in SQLModel.metadata.sorted_tables:
            rows = (await session.execute(text(f"SELECT * FROM {table.name}"))).all()
            database.extend(repr(tuple(row)) for row in rows)
    plain = {crypto.decrypt(token) for token in encrypted}
    assert code.replace("-", "") in plain and len(plain) >= 6
    forms = {p for c in plain for p in (c, c[1:], display(c), display(c)[1:], c.lower(), c[1:].lower())}
    redis = runtime.redis
    dump: list[str] = []
    async for key in redis.scan_iter(match=f"{runtime.settings.redis_prefix}:*", count=1000):
        kind = (await redis.type(key)).decode()  # type: ignore[union-attr]
        value: object
        if kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "string":
            value = await redis.get(key)
        elif kind == "stream":
            value = await redis.xrange(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = await redis.smembers(key)
        else:
            value = await redis.lrange(key, 0, -1)
        dump.append(repr(key) + repr(value))
    everything = "\n".join(database + dump)
    assert f"{{fcode:{gate_of(app).crypto.lookup_hash(code.replace('-', ''))}}}" in everything
    leaked = [form for form in forms if form in everything]
    assert not leaked
    # The record keeps the readable code only encrypted, and the hash is keyed.
    row = await sql_row(app, code)
    assert isinstance(row, FCode) and code not in row.code_enc and row.code_hash != code


async def test_retrying_a_code_purchase_with_its_idempotency_key(app: FastAPI,
                                                                client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=5, per_user_limit=3)
    code = (await claim(client, employee))[0]["code"]
    url = f"/api/drops/{drop['id']}/purchase"
    async with client_at(app) as c:
        headers = {**buyer.headers, "Idempotency-Key": secrets.token_hex(8)}
        first = await c.post(url, json={"quantity": 1, "fcode": code}, headers=headers)
        again = await c.post(url, json={"quantity": 1, "fcode": code.lower()}, headers=headers)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json()["id"] == first.json()["id"]
        # Without the key, the buyer's own code buys nothing more.
        assert is_problem(await purchase(c, drop["id"], buyer, code), 403, "fcode_invalid")
    st = await drop_stats(client, operator.headers, drop["id"])
    assert (st["reserved"], st["remaining"]) == (1, 4)
    listed = (await my_codes(client, employee))[code]
    assert (listed["status"], listed["order_id"]) == ("reserved", first.json()["id"])
