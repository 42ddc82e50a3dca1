"""`flashsale reconcile`: reports where Redis and SQL differ and repairs both ways with --fix."""
from __future__ import annotations

from collections.abc import Callable

import httpx
import orjson
from fastapi import FastAPI

from sale.reconcile import reconcile
from tests.support import create_drop, eventually, make_account, make_accounts, runtime_of, services_of


async def test_reconcile_reports_and_repairs(app: FastAPI, client: httpx.AsyncClient) -> None:
    runtime, services = runtime_of(app), services_of(app)
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 4)
    drop = await create_drop(client, operator, stock=10)
    orders = [(await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=b.headers)).json()
              for b in buyers]
    paid = await client.post(f"/api/orders/{orders[0]['id']}/pay", json={"payment_token": "test_ok"},
                             headers=buyers[0].headers)
    assert paid.status_code == 200
    lines: list[str] = []

    async def check(fix: bool, say: Callable[[str], object]) -> int:
        return await reconcile(runtime.sessions, runtime.clock, services.inventory, services.loader, drop["id"],
                               fix, say)

    async def sunk() -> bool:
        lines.clear()
        return await check(False, lines.append) == 0

    await eventually(sunk, timeout=15)  # the sink writes within a second; a crowded test machine, longer
    assert "only-in-sql=0 only-in-redis=0" in lines[0] and "invariant=ok" in lines[0]
    # Redis forgets the payment (as after a failover that lost the last writes): SQL says paid.
    keys = runtime.keys.drop(drop["id"])
    live = orjson.loads(await runtime.redis.hget(keys.orders, orders[0]["id"]))  # type: ignore[misc]
    await runtime.redis.hset(keys.orders, orders[0]["id"], orjson.dumps({**live, "status": "reserved"}))  # type: ignore[misc]
    await runtime.redis.hincrby(keys.inv, "paid", -1)  # type: ignore[misc]
    await runtime.redis.hincrby(keys.inv, "reserved", 1)  # type: ignore[misc]
    lines.clear()
    assert await check(False, lines.append) == 1
    assert "status-differs=1" in lines[0]
    lines.clear()
    assert await check(True, lines.append) == 0
    assert any("repaired" in line for line in lines)
    lines.clear()
    assert await check(False, lines.append) == 0
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (stats["remaining"], stats["reserved"], stats["paid"]) == (6, 3, 1)
