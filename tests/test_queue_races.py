"""The waiting room's promises under load, against real Redis: a uniform shuffle of the pre-queue,
late joiners behind it, a metered admission rate under 1,000 pollers, admission and unit taken
together, and a counter that never waits on a ticket nobody polls."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import eventually, make_account, make_accounts, runtime_of
from tests.support.clock import Manual
from tests.support.queue import join, keys, room, sleep_until, spearman, ticket


async def test_pre_queue_is_shuffled_uniformly_and_late_joiners_queue_behind(manual: Manual) -> None:
    """On a ManualClock: the pre-queue closes when the test says so, however long 200 joins take."""
    app, client, clock = manual.app, manual.client, manual.clock
    operator = await make_account(app, "operator")
    early, late = await make_accounts(app, 200), await make_accounts(app, 20)
    drop = await room(client, operator, 4, admit_per_second=1, stock=10_000)
    for buyer in early:  # one after another: join order is well defined
        assert (await join(app, drop["id"], buyer)).status_code == 200
    starts = datetime.fromisoformat(drop["starts_at"])
    assert clock.now() < starts
    clock.set(starts + timedelta(seconds=0.1))
    for buyer in late:
        assert (await join(app, drop["id"], buyer)).status_code == 200

    redis = runtime_of(app).redis
    k = keys(app, drop["id"])
    # One snapshot of the line (at 1 admission a second hardly anyone is in yet).
    line = [int(m) for m in await redis.zrange(k.line, 0, -1)]
    assert len(line) >= 218
    place = {uid: i + 1 for i, uid in enumerate(line)}
    assert [place[b.id] for b in late] == list(range(len(line) - 19, len(line) + 1))  # behind, in arrival order
    in_line = [i for i, b in enumerate(early) if b.id in place]
    rho = spearman([float(i) for i in in_line], [float(place[early[i].id]) for i in in_line])
    assert abs(rho) < 0.25, rho
    # The tickets say the same, counted among those still waiting.
    mine = await ticket(client, drop["id"], late[-1])
    assert mine["status"] == "waiting" and mine["position"] == int(await redis.zcard(k.line))

    # Admission follows the places: let them all in quickly, the admission times keep the order.
    changed = await client.patch(f"/api/admin/drops/{drop['id']}", json={"admit_per_second": 400},
                                 headers=operator.headers)
    assert changed.status_code == 200

    async def all_in() -> bool:
        clock.advance(0.2)
        await asyncio.gather(*(ticket(client, drop["id"], b) for b in early[:50]))  # pollers drive the meter
        return int(await redis.zcard(k.admitted)) >= 219

    await eventually(all_in, timeout=15, interval=0.05)
    until = {int(m): s for m, s in await redis.zrange(k.admitted, 0, -1, withscores=True)}
    times = [until[uid] for uid in line]
    assert times == sorted(times)  # nobody admitted before someone placed ahead


@pytest.mark.slow  # 2,700 polls by 1,000 buyers
async def test_exactly_admit_per_second_under_a_thousand_pollers(manual: Manual) -> None:
    """1,000 pollers race the meter while a ManualClock moves 4.5 s in 50 ms steps: the rate is per
    second of the service's clock, however fast or loaded this machine is."""
    app, client, clock = manual.app, manual.client, manual.clock
    operator = await make_account(app, "operator")
    crowd = await make_accounts(app, 1000)
    rate = 25
    drop = await room(client, operator, 20, admit_per_second=rate, stock=10_000)
    joining = asyncio.Semaphore(100)  # the crowd joins over moments, not in one instant (the Redis pool)

    async def join_one(buyer: Any) -> Any:
        async with joining:
            return await join(app, drop["id"], buyer)

    joined = await asyncio.gather(*(join_one(b) for b in crowd))
    assert {j.status_code for j in joined} == {200}
    starts = datetime.fromisoformat(drop["starts_at"])
    clock.set(starts)
    # The clock moves 4.5 s in 50 ms steps; at each step 30 of the 1,000 buyers (a different slice each
    # time, so every one of them polls) race the meter at once: 600 polls per second of the clock,
    # far more than the 25 admissions it may give, whatever the speed of this machine.
    answers: Counter[int] = Counter()
    for step in range(90):
        batch = [crowd[(step * 30 + i) % len(crowd)] for i in range(30)]
        polled = await asyncio.gather(*(client.get(f"/api/drops/{drop['id']}/queue", headers=buyer.headers)
                                        for buyer in batch))
        answers.update(r.status_code for r in polled)
        clock.advance(0.05)
    assert set(answers) == {200} and answers[200] >= 1000, answers
    k = keys(app, drop["id"])
    window_ms = runtime_of(app).settings.queue_admission_seconds * 1000
    admitted_ms = [s - window_ms for _, s in await runtime_of(app).redis.zrange(k.admitted, 0, -1, withscores=True)]
    start_ms = starts.timestamp() * 1000
    per_second = Counter(int((t - start_ms) // 1000) for t in admitted_ms)
    assert min(per_second) >= 0
    full_seconds = [per_second[s] for s in range(4)]
    assert all(rate - 1 <= n <= rate + 1 for n in full_seconds), (full_seconds, per_second)


async def test_admission_and_unit_are_taken_together(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    line, outsiders = await make_accounts(app, 20), await make_accounts(app, 10)
    drop = await room(client, operator, 0.5, stock=5, per_user_limit=3, admit_per_second=1000)
    for buyer in line:
        assert (await join(app, drop["id"], buyer)).status_code == 200

    async def statuses() -> Counter[str]:
        return Counter(t["status"] for t in await asyncio.gather(*(ticket(client, drop["id"], b) for b in line)))

    async def five_admitted() -> bool:
        return (await statuses())["admitted"] == 5

    await eventually(five_admitted, timeout=5)
    await asyncio.sleep(0.3)  # however fast the meter, no more admissions than units
    assert await statuses() == Counter({"admitted": 5, "waiting": 15})
    url = f"/api/drops/{drop['id']}/purchase"
    # Everyone fires five purchases at once (within the per-user limit of 3), the line and outsiders alike.
    shots = [b for b in line + outsiders for _ in range(5)]
    responses = await asyncio.gather(*(client.post(url, json={}, headers=b.headers) for b in shots))
    won = [b.id for b, r in zip(shots, responses, strict=True) if r.status_code == 201]
    assert len(won) == 5 and len(set(won)) == 5  # one unit per admission, stock never passed
    refused = Counter(r.json()["code"] for r in responses if r.status_code != 201)
    assert set(refused) <= {"not_admitted", "sold_out"} and refused["not_admitted"] >= 1, refused
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert stats["remaining"] == 0 and stats["reserved"] == 5 and stats["queue"]["done"] == 5
    assert (await statuses()) == Counter({"done": 5, "sold_out": 15})


async def test_a_stalled_ticket_does_not_stall_the_counter(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    gone, live = await make_accounts(app, 30), await make_account(app)
    drop = await room(client, operator, 1.5, admit_per_second=2)
    for buyer in gone:
        assert (await join(app, drop["id"], buyer)).status_code == 200
    starts = datetime.fromisoformat(drop["starts_at"])
    await sleep_until(starts, 0.3)
    assert (await join(app, drop["id"], live)).status_code == 200  # behind all 30
    # The thirty stop polling: their last poll is now older than the stale limit.
    redis, k = runtime_of(app).redis, keys(app, drop["id"])
    await redis.zadd(k.seen, {str(b.id): 1 for b in gone}, xx=True)

    async def admitted() -> bool:
        return (await ticket(client, drop["id"], live))["status"] == "admitted"

    began = time.monotonic()
    await eventually(admitted, timeout=3, interval=0.1)
    assert time.monotonic() - began < 1.5  # at 2 a second, thirty ghosts ahead cost no waiting
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert stats["queue"]["expired"] >= 29 and stats["queue"]["waiting"] == 0, stats["queue"]
    assert (await ticket(client, drop["id"], gone[0]))["status"] in ("expired", "admitted")
