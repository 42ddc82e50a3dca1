"""Redis is the gate, SQL the record: a dead process or a lost Redis never loses or doubles a unit."""
from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core.net import free_port
from core.settings import Settings
from sale.models import Order
from tests.support import Account, create_drop, eventually, is_problem, make_account, make_accounts, runtime_of
from tests.support.queue import join, room
from tests.support.server import start_server, stop_process, wait_healthy


async def sql_orders(app: FastAPI, drop_id: int) -> list[Order]:
    async with runtime_of(app).sessions() as session:
        return list((await session.execute(select(Order).where(Order.drop_id == drop_id))).scalars().all())


@pytest.mark.cluster  # FLUSHALL reaches every primary
async def test_redis_flushed_under_live_drop_rebuilds_from_sql(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 30)
    drop = await create_drop(client, operator, stock=20)
    url = f"/api/drops/{drop['id']}/purchase"
    first = await asyncio.gather(*(client.post(url, json={"quantity": 1}, headers=b.headers) for b in buyers[:12]))
    assert sum(r.status_code == 201 for r in first) == 12
    paid_id = first[0].json()["id"]
    assert (await client.post(f"/api/orders/{paid_id}/pay", json={"payment_token": "test_ok"},
                              headers=buyers[0].headers)).status_code == 200

    async def all_sunk() -> bool:
        rows = await sql_orders(app, drop["id"])
        return len(rows) == 12 and any(r.status == "paid" for r in rows)

    await eventually(all_sunk)
    # Lose every key of this drop, as a fresh or failed-over Redis would.
    runtime = runtime_of(app)
    keys = runtime.keys.drop(drop["id"])
    await runtime.redis.delete(*keys.all_keys())
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["remaining"] == 8
    # Buyers who hold a unit still cannot pass the limit; only what is left sells.
    again = await client.post(url, json={"quantity": 1}, headers=buyers[1].headers)
    assert again.status_code == 409 and again.json()["code"] == "limit_reached"
    rest = await asyncio.gather(*(client.post(url, json={"quantity": 1}, headers=b.headers) for b in buyers[12:]))
    assert sum(r.status_code == 201 for r in rest) == 8
    st = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (st["remaining"], st["reserved"], st["paid"]) == (0, 19, 1)
    paid = await client.get(f"/api/orders/{paid_id}", headers=buyers[0].headers)
    assert paid.json()["status"] == "paid"

    async def twenty_rows() -> bool:
        return len(await sql_orders(app, drop["id"])) == 20

    await eventually(twenty_rows)



@pytest.mark.slow
async def test_sigkill_mid_load_loses_and_doubles_nothing(app: FastAPI, client: httpx.AsyncClient,
                                                          settings: Settings, tmp_path: Path) -> None:
    operator = await make_account(app, "operator")
    buyers: list[Account] = await make_accounts(app, 400)
    drop = await create_drop(client, operator, stock=300)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(settings, port, tmp_path)
    try:
        await wait_healthy(base, proc)
        statuses: Counter[object] = Counter()
        async with httpx.AsyncClient(base_url=base, timeout=10,
                                     limits=httpx.Limits(max_connections=64)) as remote:
            async def buy(buyer: Account) -> None:
                try:
                    r = await remote.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1},
                                          headers=buyer.headers)
                    statuses[r.status_code] += 1
                    if statuses[201] >= 40:
                        some_sold.set()
                except httpx.HTTPError:
                    statuses["lost"] += 1

            some_sold = asyncio.Event()
            load = asyncio.gather(*(buy(b) for b in buyers))
            await asyncio.wait_for(some_sold.wait(), timeout=20)
            os.kill(proc.pid, signal.SIGKILL)  # mid-load, no goodbye
            await load
        proc.wait(timeout=10)
        assert statuses[201] > 0 and statuses["lost"] > 0, statuses
        proc = start_server(settings, port, tmp_path)
        await wait_healthy(base, proc)
        runtime = runtime_of(app)
        keys = runtime.keys.drop(drop["id"])

        async def redis_and_sql_agree() -> bool:
            live = await runtime.redis.hgetall(keys.orders)  # type: ignore[misc]
            rows = await sql_orders(app, drop["id"])
            return len(rows) == len(live) and {r.id for r in rows} == {k.decode() for k in live}

        await eventually(redis_and_sql_agree, timeout=15)
        rows = await sql_orders(app, drop["id"])
        assert len({r.id for r in rows}) == len(rows) >= statuses[201]
        assert sum(r.quantity for r in rows) <= 300
        assert len({r.user_id for r in rows}) == len(rows)  # limit 1: nobody holds two
        st = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
        assert st["reserved"] + st["paid"] == sum(r.quantity for r in rows)
        assert st["remaining"] + st["reserved"] + st["paid"] == 300
    finally:
        stop_process(proc, timeout=15)


async def test_lost_drop_keys_are_rebuilt_for_stats_and_the_waiting_room(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, other = await make_accounts(app, 2)
    drop = await room(client, operator, 3600, prequeue_minutes=120)  # the room is open, the sale an hour off
    assert (await join(app, drop["id"], buyer)).status_code == 200
    redis, keys = runtime_of(app).redis, runtime_of(app).keys.drop(drop["id"])
    await redis.delete(*keys.all_keys())
    st = await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)
    assert st.status_code == 200 and st.json()["remaining"] == 1000, st.text
    await redis.delete(*keys.all_keys())
    joined = await join(app, drop["id"], other)
    assert joined.status_code == 200 and joined.json()["status"] == "waiting", joined.text
    await redis.delete(*keys.all_keys())
    # The room comes back empty from SQL (tickets live in Redis only): not in the queue, not a 500.
    assert is_problem(await client.get(f"/api/drops/{drop['id']}/queue", headers=other.headers), 404, "not_in_queue")
