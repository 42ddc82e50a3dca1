"""Helpers for the waiting-room suites (no tests here)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import altcha
import httpx
from fastapi import FastAPI

from core.keys import DropKeys
from tests.support import Account, create_drop, iso, now, runtime_of
from tests.support.fcodes import client_at, fresh_address


async def room(client: httpx.AsyncClient, operator: Account, starts_in: float, **overrides: Any) -> dict[str, Any]:
    """A drop behind a waiting room, opening `starts_in` seconds from now (no challenge unless asked)."""
    start = now() + timedelta(seconds=starts_in)
    body: dict[str, Any] = {"starts_at": iso(start), "ends_at": iso(start + timedelta(hours=1)),
                            "waiting_room": True, "challenge": False, "stock": 1000}
    body.update(overrides)
    return await create_drop(client, operator, **body)


async def join(app: FastAPI, drop_id: int, buyer: Account, altcha_payload: str | None = None,
               address: str | None = None) -> httpx.Response:
    """Joins from a client address of its own (the per-address limit is tested on its own)."""
    async with client_at(app, address or fresh_address()) as c:
        body = {"altcha": altcha_payload} if altcha_payload is not None else {}
        return await c.post(f"/api/drops/{drop_id}/queue", json=body, headers=buyer.headers)


async def ticket(client: httpx.AsyncClient, drop_id: int, buyer: Account) -> dict[str, Any]:
    response = await client.get(f"/api/drops/{drop_id}/queue", headers=buyer.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def solved(client: httpx.AsyncClient, drop_id: int, buyer: Account) -> str:
    """Fetches a challenge and solves it like a script would: the base64 payload the widget sends."""
    response = await client.get(f"/api/drops/{drop_id}/queue/challenge", headers=buyer.headers)
    assert response.status_code == 200, response.text
    challenge = altcha.Challenge.from_dict(response.json())
    solution = await asyncio.to_thread(altcha.solve_challenge, challenge)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def keys(app: FastAPI, drop_id: int) -> DropKeys:
    return runtime_of(app).keys.drop(drop_id)


async def sleep_until(moment: datetime, extra: float = 0.0) -> None:
    await asyncio.sleep(max(0.0, (moment - now()).total_seconds() + extra))


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation, ties given their average rank."""
    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx) ** 0.5
    vy = sum((b - my) ** 2 for b in ry) ** 0.5
    return cov / (vx * vy)


