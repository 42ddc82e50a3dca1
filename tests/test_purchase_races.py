"""The sale's invariants under concurrency, against real Redis and a real database."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from sale.models import Order
from tests.support import create_drop, eventually, make_account, make_accounts, runtime_of, stats


async def sql_units(app: FastAPI, drop_id: int) -> tuple[int, int]:
    async with runtime_of(app).sessions() as session:
        row = (await session.execute(select(func.count(), func.coalesce(func.sum(Order.quantity), 0))
                                     .where(Order.drop_id == drop_id))).one()
    return int(row[0]), int(row[1])



async def test_no_oversell_100_units_1000_purchases_300_buyers(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 300)
    drop = await create_drop(client, operator, stock=100, per_user_limit=5)
    url = f"/api/drops/{drop['id']}/purchase"

    async def buy(i: int) -> httpx.Response:
        return await client.post(url, json={"quantity": 1}, headers=buyers[i % 300].headers)

    responses = await asyncio.gather(*(buy(i) for i in range(1000)))
    outcomes = Counter(r.status_code for r in responses)
    codes = Counter(r.json().get("code") for r in responses if r.status_code != 201)
    assert outcomes[201] == 100, (outcomes, codes)
    assert set(codes) <= {"sold_out", "limit_reached"}, codes
    assert codes["sold_out"] >= 1
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 100

    async def all_in_sql() -> bool:
        return await sql_units(app, drop["id"]) == (100, 100)

    await eventually(all_in_sql, timeout=10)
    st = await stats(client, operator.headers, drop["id"])
    assert st["remaining"] == 0 and st["reserved"] == 100 and st["paid"] == 0
    assert st["remaining"] + st["reserved"] + st["paid"] == st["stock"] == 100  # type: ignore[operator]
    assert st["attempts"] == 1000
    assert st["sold_out_at"] is not None


async def test_one_buyer_limit_2_fifty_concurrent(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, stock=50, per_user_limit=2)
    responses = await asyncio.gather(*(
        client.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1}, headers=buyer.headers)
        for _ in range(50)))
    assert sum(r.status_code == 201 for r in responses) == 2
    assert {r.json()["code"] for r in responses if r.status_code != 201} == {"limit_reached"}
    st = await stats(client, operator.headers, drop["id"])
    assert st["reserved"] == 2 and st["remaining"] == 48


async def test_twenty_concurrent_retries_with_one_idempotency_key(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, stock=10, per_user_limit=3)
    headers = {**buyer.headers, "Idempotency-Key": uuid.uuid4().hex}
    responses = await asyncio.gather(*(
        client.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1}, headers=headers)
        for _ in range(20)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    st = await stats(client, operator.headers, drop["id"])
    assert st["reserved"] == 1 and st["remaining"] == 9
    reused = await client.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 2}, headers=headers)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert (await stats(client, operator.headers, drop["id"]))["remaining"] == 9
