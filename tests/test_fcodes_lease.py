"""The F-code lease is a value: whichever task holds it can confirm or release it."""
from __future__ import annotations

import asyncio
import secrets

import httpx
from fastapi import FastAPI

from codes.format import canonical
from codes.gate import Lease
from tests.support import create_drop, make_account, services_of
from tests.support.fcodes import claim, gate_of


async def test_a_confirm_from_another_task_records_the_buyer_and_ends_the_lease(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=3)
    code = (await claim(client, employee))[0]["code"]
    gate = gate_of(app)
    lease = await asyncio.create_task(gate.lease(code, buyer.id, drop["sku"], "10.8.8.8"))
    assert lease.token and lease.buyer == buyer.id
    order_id = f"{drop['id']}-{secrets.token_hex(10)}"
    await asyncio.create_task(gate.confirm(lease, order_id))  # not the task that leased
    live = (await services_of(app).code_sync.state.read([lease.code_hash]))[0]
    assert live is not None
    assert (live.status, live.order_id, live.buyer) == ("reserved", order_id, buyer.id)
    runtime = services_of(app).runtime
    fields = await runtime.redis.hmget(runtime.keys.fcode(lease.code_hash), ["lease_token", "lease_by"])
    assert fields == [b"", b""]  # the lease ended with the confirm


async def test_a_release_from_another_task_frees_the_code_at_once(app: FastAPI,
                                                                  client: httpx.AsyncClient) -> None:
    operator, employee = await make_account(app, "operator"), await make_account(app, "employee")
    first, second = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=3)
    code = (await claim(client, employee))[0]["code"]
    gate = gate_of(app)
    lease = await gate.lease(code, first.id, drop["sku"], "10.8.8.9")
    await asyncio.create_task(gate.release(lease))
    again = await gate.lease(code, second.id, drop["sku"], "10.8.8.9")  # no wait for the lease to run out
    assert again.token and again.buyer == second.id
    await gate.release(again)


async def test_the_buyers_own_retry_needs_no_lease(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, employee, buyer = (await make_account(app, "operator"), await make_account(app, "employee"),
                                 await make_account(app))
    drop = await create_drop(client, operator, stock=3)
    code = (await claim(client, employee))[0]["code"]
    first = await client.post(f"/api/drops/{drop['id']}/purchase", json={"fcode": code}, headers=buyer.headers)
    assert first.status_code == 201, first.text
    gate = gate_of(app)
    retry = await gate.lease(code, buyer.id, drop["sku"], "10.8.8.10")
    assert retry == Lease(gate.crypto.lookup_hash(canonical(code)))  # no token: nothing to confirm or release
