"""One client address cannot hold a drop hostage: its reserved-but-unpaid units per drop are capped
(whatever its accounts), checked in the purchase script itself, and freed again by pay, cancel and
expiry. An IPv6 client is counted by its /64."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from sale.inventory import PurchaseLimits
from tests.support import (
    create_drop,
    eventually,
    is_problem,
    make_account,
    make_accounts,
    pay,
    purchase,
    services_of,
    stats,
)
from tests.support.fcodes import fresh_address

CAP = 3


@asynccontextmanager
async def at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


@pytest.fixture
def capped(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> int:
    inventory = services_of(app).inventory
    monkeypatch.setattr(inventory, "limits", PurchaseLimits(inventory.limits.rate_per_second, CAP))
    return CAP


async def test_one_address_cannot_reserve_a_whole_drop(app: FastAPI, client: httpx.AsyncClient, capped: int) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=20)
    buyers = await make_accounts(app, 20)
    async with at(app, fresh_address()) as one_address:
        answers = await asyncio.gather(*(purchase(one_address, drop["id"], b.headers) for b in buyers))
    outcomes = Counter((r.status_code, r.json().get("code")) for r in answers)
    assert outcomes == {(201, None): capped, (409, "limit_reached"): 20 - capped}, outcomes
    assert (await stats(client, operator.headers, drop["id"]))["reserved"] == capped
    async with at(app, fresh_address()) as elsewhere:  # everyone else can still buy
        assert (await purchase(elsewhere, drop["id"], (await make_account(app)).headers)).status_code == 201


async def test_pay_cancel_and_expiry_free_the_address(app: FastAPI, client: httpx.AsyncClient, capped: int) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=20, pay_window_seconds=1)
    buyers = await make_accounts(app, 8)
    address = fresh_address()
    async with at(app, address) as here:
        orders = [(await purchase(here, drop["id"], b.headers)).json() for b in buyers[:capped]]
        assert is_problem(await purchase(here, drop["id"], buyers[3].headers), 409, "limit_reached")
        await pay(here, buyers[0], orders[0]["id"])  # a paid unit is no longer held unpaid
        assert (await purchase(here, drop["id"], buyers[3].headers)).status_code == 201
        cancelled = await here.post(f"/api/orders/{orders[1]['id']}/cancel", headers=buyers[1].headers)
        assert cancelled.status_code == 200, cancelled.text
        assert (await purchase(here, drop["id"], buyers[4].headers)).status_code == 201
        assert is_problem(await purchase(here, drop["id"], buyers[5].headers), 409, "limit_reached")

        async def freed() -> bool:  # the unpaid ones expire (pay window 1 s): the address may buy again
            return (await purchase(here, drop["id"], buyers[5].headers)).status_code == 201

        await eventually(freed, timeout=10, interval=0.3)


async def test_an_ipv6_client_is_counted_by_its_64(app: FastAPI, client: httpx.AsyncClient, capped: int) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=20)
    buyers = await make_accounts(app, capped + 1)
    for i, buyer in enumerate(buyers):
        async with at(app, f"2001:db8:77:1::{i + 1:x}") as rotated:
            answer = await purchase(rotated, drop["id"], buyer.headers)
        assert answer.status_code == (201 if i < capped else 409), (i, answer.text)
    async with at(app, "2001:db8:77:2::1") as next_block:
        assert (await purchase(next_block, drop["id"], (await make_account(app)).headers)).status_code == 201


def test_the_default_cap_is_small() -> None:
    from core.settings import Settings

    assert 1 <= Settings.model_fields["max_unpaid_per_address"].default <= 10
