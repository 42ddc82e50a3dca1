"""The waiting room and refusals: a refused admitted buyer keeps its admission but passes its unit to the
next in line at once (the issue's 5-unit drop behind one address); `waiting_for_units` with a null eta
while admissions wait for units rather than for the pace. The room runs on a ManualClock: time passes
only when a test steps it (purchases still read the system clock, which the admissions are ahead of)."""
from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from core.clock import ManualClock
from core.settings import Settings
from tests.support import (
    Account,
    create_drop,
    delete_prefix,
    is_problem,
    iso,
    make_account,
    make_accounts,
    purchase,
)
from tests.support.fcodes import client_at, fresh_address
from tests.support.queue import join, keys, ticket

# Its own app's clean-up reads every primary (delete_prefix); the waiting room's scripts on a Cluster too.
pytestmark = pytest.mark.cluster

ADDRESS_LIMIT_TEXT = "too many unpaid orders from your network: pay or cancel first"


@pytest.fixture
async def clocked(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, ManualClock]]:
    """An app of its own (its own key prefix, no background loop stepping the meter on the system clock),
    with the default per-address cap (the suite's settings lift it) and a ManualClock."""
    clock = ManualClock()
    cap_floor = Settings.model_fields["max_unpaid_per_address"].default
    own = settings.model_copy(update={"redis_prefix": f"{settings.redis_prefix}-q{uuid.uuid4().hex[:6]}",
                                      "run_background": False, "max_unpaid_per_address": cap_floor})
    application = create_app(own, clock=clock)
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://testserver", timeout=30) as client:
        yield application, client, clock
    delete_prefix(own.redis_url, own.redis_prefix)


async def room_now(client: httpx.AsyncClient, operator: Account, **overrides: Any) -> dict[str, Any]:
    """A waiting-room drop open since a moment ago (the meter has a little budget at the first step)."""
    body: dict[str, Any] = {"waiting_room": True, "challenge": False, "admit_per_second": 100}
    body.update(overrides)
    return await create_drop(client, operator, **body)


async def joined(app: FastAPI, drop_id: int, buyers: list[Account], clock: ManualClock, wait: float = 1.0) -> None:
    """They join in order (after starts_at places are arrival order), then `wait` seconds pass (the pace's
    budget for the admissions)."""
    for buyer in buyers:
        assert (await join(app, drop_id, buyer)).status_code == 200
    clock.advance(wait)


async def statuses(client: httpx.AsyncClient, drop_id: int, buyers: list[Account]) -> list[dict[str, Any]]:
    return [await ticket(client, drop_id, b) for b in buyers]


async def test_a_refused_admission_passes_its_unit_to_the_next_in_line_at_once(
        clocked: tuple[FastAPI, httpx.AsyncClient, ManualClock]) -> None:
    app, client, clock = clocked
    operator = await make_account(app, "operator")
    drop = await room_now(client, operator, stock=5)
    buyers = await make_accounts(app, 6)
    await joined(app, drop["id"], buyers, clock)
    first = await statuses(client, drop["id"], buyers)
    assert [t["status"] for t in first] == ["admitted"] * 5 + ["waiting"]
    # Every unit is held by an admitted buyer: the sixth waits for units, not for the pace.
    assert first[5]["waiting_for_units"] is True and first[5]["eta_seconds"] is None

    shared = fresh_address()  # five admitted buyers behind one carrier NAT; the cap of a 5-unit drop is 4
    async with client_at(app, shared) as nat:
        answers = await asyncio.gather(*(purchase(nat, drop["id"], b.headers) for b in buyers[:5]))
    assert sorted(a.status_code for a in answers) == [201] * 4 + [409]
    refused_at = next(i for i, a in enumerate(answers) if a.status_code == 409)
    refusal = answers[refused_at]
    assert is_problem(refusal, 409, "address_limit") and refusal.json()["detail"] == ADDRESS_LIMIT_TEXT
    refused = buyers[refused_at]

    # No time passes: the next in line is admitted at once, and the refused buyer keeps its admission.
    mine, next_in_line = await ticket(client, drop["id"], refused), await ticket(client, drop["id"], buyers[5])
    assert mine["status"] == "admitted" and mine["admitted_until"] == first[refused_at]["admitted_until"]
    assert next_in_line["status"] == "admitted", next_in_line
    async with client_at(app, fresh_address()) as elsewhere:
        assert (await purchase(elsewhere, drop["id"], buyers[5].headers)).status_code == 201
    runtime_keys = keys(app, drop["id"])
    redis = app.state.runtime.redis
    assert await redis.hget(runtime_keys.queue, "blocked") == b"1"

    # Its admission ends: its mark goes with it.
    clock.advance(121)
    assert (await ticket(client, drop["id"], refused))["status"] == "expired"
    assert await redis.hget(runtime_keys.queue, "blocked") == b"0"
    assert await redis.hget(runtime_keys.queue, f"b:{refused.id}") is None


async def test_a_refused_buyer_may_still_buy_with_its_admission(
        clocked: tuple[FastAPI, httpx.AsyncClient, ManualClock]) -> None:
    app, client, clock = clocked
    operator = await make_account(app, "operator")
    drop = await room_now(client, operator, stock=10)
    buyers = await make_accounts(app, 5)
    await joined(app, drop["id"], buyers, clock)
    assert {t["status"] for t in await statuses(client, drop["id"], buyers)} == {"admitted"}
    shared = fresh_address()
    async with client_at(app, shared) as nat:
        orders = [await purchase(nat, drop["id"], b.headers) for b in buyers[:4]]
        assert is_problem(await purchase(nat, drop["id"], buyers[4].headers), 409, "address_limit")
        cancelled = await nat.post(f"/api/orders/{orders[0].json()['id']}/cancel", headers=buyers[0].headers)
        assert cancelled.status_code == 200, cancelled.text
        assert (await purchase(nat, drop["id"], buyers[4].headers)).status_code == 201  # same admission
    assert (await ticket(client, drop["id"], buyers[4]))["status"] == "done"
    redis, k = app.state.runtime.redis, keys(app, drop["id"])
    assert await redis.hget(k.queue, "blocked") == b"0" and await redis.hget(k.queue, f"b:{buyers[4].id}") is None


async def test_rate_limited_keeps_the_unit_held(clocked: tuple[FastAPI, httpx.AsyncClient, ManualClock]) -> None:
    """rate_limited is the one refusal that is no answer about the unit: the admission keeps holding it."""
    app, client, clock = clocked
    operator = await make_account(app, "operator")
    drop = await room_now(client, operator, stock=1)
    buyer, behind = await make_accounts(app, 2)
    await joined(app, drop["id"], [buyer, behind], clock)
    assert (await ticket(client, drop["id"], buyer))["status"] == "admitted"
    inventory = app.state.services.inventory
    limits = inventory.limits
    inventory.limits = dataclasses.replace(limits, rate_per_second=0)  # every attempt is over the rate
    try:
        assert is_problem(await purchase(client, drop["id"], buyer.headers), 429, "rate_limited")
    finally:
        inventory.limits = limits
    held = await ticket(client, drop["id"], behind)
    assert held["status"] == "waiting" and held["waiting_for_units"] is True
    # Any other refusal passes it on (here: a quantity over the drop's limit, which the script refuses).
    assert is_problem(await purchase(client, drop["id"], buyer.headers, quantity=2), 422)
    assert (await ticket(client, drop["id"], behind))["status"] == "admitted"


async def test_waiting_for_units_instead_of_a_frozen_eta(
        clocked: tuple[FastAPI, httpx.AsyncClient, ManualClock]) -> None:
    app, client, clock = clocked
    operator = await make_account(app, "operator")
    drop = await room_now(client, operator, stock=2)
    buyers = await make_accounts(app, 4)
    await joined(app, drop["id"], buyers, clock)
    tickets = await statuses(client, drop["id"], buyers)
    assert [t["status"] for t in tickets] == ["admitted", "admitted", "waiting", "waiting"]
    for t in tickets[2:]:
        assert t["waiting_for_units"] is True and t["eta_seconds"] is None, t
    assert all(t["waiting_for_units"] is False for t in tickets[:2])
    for _ in range(3):  # nothing comes back for 90 s: still no promise, however long they wait
        clock.advance(30)
        for t in await statuses(client, drop["id"], buyers[2:]):
            assert (t["status"], t["eta_seconds"], t["waiting_for_units"]) == ("waiting", None, True), t
    clock.advance(31)  # the two admissions went unused: their units come back, the next two are let in
    assert [t["status"] for t in await statuses(client, drop["id"], buyers)] == [
        "expired", "expired", "admitted", "admitted"]

    # Bound by the pace, not by units: an honest eta and no waiting_for_units.
    starts = clock.now()
    paced = await room_now(client, operator, stock=100, admit_per_second=1, starts_at=iso(starts),
                           ends_at=iso(starts + timedelta(hours=1)))
    crowd = await make_accounts(app, 4)
    await joined(app, paced["id"], crowd, clock, wait=0.5)
    waiting = await statuses(client, paced["id"], crowd)
    assert [(t["status"], t["position"], t["eta_seconds"], t["waiting_for_units"]) for t in waiting] == [
        ("waiting", n, n, False) for n in (1, 2, 3, 4)]
