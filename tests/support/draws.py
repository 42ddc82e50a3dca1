"""Draw helpers: a draw drop on the manual clock, entering crowds, waiting for the draw."""
from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import httpx

from tests.support import Account, eventually, iso
from tests.support.clock import Manual


async def create_draw(manual: Manual, operator: Account, *, open_in: float = -1, close_in: float = 60,
                      **overrides: Any) -> dict[str, Any]:
    """A draw drop whose entries opened `open_in` seconds from the manual clock's now and close (and draw)
    `close_in` seconds from it."""
    now = manual.clock.now()
    body: dict[str, Any] = {"sku": f"sku-{uuid.uuid4().hex[:8]}", "name": "Mi Band Draw", "price_cents": 29900,
                            "currency": "CNY", "stock": 3, "mode": "draw",
                            "entries_open_at": iso(now + timedelta(seconds=open_in)),
                            "entries_close_at": iso(now + timedelta(seconds=close_in)), "pay_window_seconds": 60}
    body.update(overrides)
    response = await manual.client.post("/api/admin/drops", json=body, headers=operator.headers)
    assert response.status_code == 201, response.text
    drop: dict[str, Any] = response.json()
    return drop


async def enter_all(client: httpx.AsyncClient, drop_id: int, accounts: list[Account]) -> dict[int, str]:
    """Every account entered: user id -> entry id."""
    answers = await asyncio.gather(*(client.put(f"/api/drops/{drop_id}/entry", headers=a.headers) for a in accounts))
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return {a.id: r.json()["id"] for a, r in zip(accounts, answers, strict=True)}


async def drawn(client: httpx.AsyncClient, drop_id: int, timeout: float = 10.0) -> dict[str, Any]:
    """Waits until the draw is published; its public answer."""
    found: dict[str, Any] = {}

    async def made() -> bool:
        response = await client.get(f"/api/drops/{drop_id}/draw")
        assert response.status_code == 200, response.text
        found.update(response.json())
        return found["seed"] is not None

    await eventually(made, timeout=timeout)
    return found


def recompute(seed: str, entry_ids: list[str]) -> dict[str, int]:
    """Ranks as the contract defines them, written here from the contract alone."""
    scores = sorted((hashlib.sha256(f"{seed}:{eid}".encode()).hexdigest(), eid) for eid in entry_ids)
    return {eid: n for n, (_, eid) in enumerate(scores, start=1)}
