"""Pause on a server with two worker processes: hundreds of purchases race the pause, and from the
moment its answer arrives no worker takes one (the flag is in the drop's Redis state, which every
worker's purchase script reads), while the ones decided before it stand."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.net import free_port
from core.settings import Settings
from tests.support import Account, create_drop, make_account, make_accounts, stats
from tests.support.server import start_server, stop_process, wait_healthy

pytestmark = pytest.mark.slow


async def test_no_worker_takes_a_purchase_after_the_pause_answered(app: FastAPI, client: httpx.AsyncClient,
                                                                    settings: Settings, tmp_path: Path) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 60)
    drop = await create_drop(client, operator, stock=100_000, per_user_limit=1000)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(settings, port, tmp_path, workers=2)
    # (sent at, answered at: monotonic; status; the order's created_at when taken)
    results: list[tuple[float, float, int, str | None]] = []
    paused_at_mono = paused_at_wall = 0.0
    try:
        await wait_healthy(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=60)) as remote:
            stop = asyncio.Event()

            async def shopper(buyer: Account) -> None:
                while not stop.is_set():
                    sent = time.monotonic()
                    r = await remote.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1},
                                          headers=buyer.headers)
                    created = r.json()["created_at"] if r.status_code == 201 else None
                    if r.status_code not in (201, 403) or (r.status_code == 403 and r.json()["code"] != "drop_paused"):
                        raise AssertionError(r.text)
                    results.append((sent, time.monotonic(), r.status_code, created))

            load = asyncio.gather(*(shopper(b) for b in buyers))
            while sum(1 for r in results if r[2] == 201) < 200:
                await asyncio.sleep(0.01)
            answer = await remote.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers)
            paused_at_mono, paused_at_wall = time.monotonic(), time.time()
            assert answer.status_code == 200 and answer.json()["paused"] is True, answer.text
            while sum(1 for r in results if r[0] > paused_at_mono) < 300:
                await asyncio.sleep(0.01)
            stop.set()
            await load
            resumed = await remote.post(f"/api/admin/drops/{drop['id']}/resume", headers=operator.headers)
            assert resumed.status_code == 200
            again = await remote.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1},
                                      headers=buyers[0].headers)
            assert again.status_code == 201, again.text
    finally:
        stop_process(proc)
    taken = [r for r in results if r[2] == 201]
    after = [r for r in results if r[0] > paused_at_mono]
    straddling = [r for r in results if r[0] <= paused_at_mono < r[1]]
    print(f"\n[pause on 2 workers] {len(results)} purchases: {len(taken)} taken, {len(after)} sent after the "
          f"pause answered (all refused), {len(straddling)} in flight across it "
          f"({sum(r[2] == 201 for r in straddling)} of those taken, decided before the flag)")
    assert len(results) >= 500 and len(taken) >= 200
    assert after and all(r[2] == 403 for r in after)
    # Every order taken was decided before the pause answered (the server stamps its own clock).
    latest = max(datetime.fromisoformat(r[3]).timestamp() for r in taken if r[3] is not None)
    assert latest <= paused_at_wall
    counters = await stats(client, operator.headers, drop["id"])
    assert counters["reserved"] == len(taken) + 1 and counters["rejected"]["drop_paused"] == len(results) - len(taken)
