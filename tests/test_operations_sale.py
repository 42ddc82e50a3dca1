"""Operator tooling of the sale: the live event stream and the weekly schedule command."""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from app.cli import cli
from core.settings import Settings
from tests.support import create_drop, is_problem, make_account, services_of
from tests.test_server_timeouts import live_server


async def test_dashboard_events_stream_stats(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    url = f"/api/admin/drops/{drop['id']}/events"
    assert is_problem(await client.get(url, headers=buyer.headers), 403, "forbidden")
    assert is_problem(await client.get(url), 401, "unauthorized")
    # The route streams DropAdmin.stats_events (httpx's ASGI transport cannot stream, so read it here).
    stream = services_of(app).drops.stats_events(drop["id"], interval=0.05)
    first = json.loads((await anext(stream))[6:])
    assert (await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=buyer.headers)).status_code == 201
    second = json.loads((await anext(stream))[6:])
    await stream.aclose()
    assert (first["remaining"], second["remaining"], second["reserved"]) == (5, 4, 1)


async def test_schedule_creates_weekly_drops_at_local_noon(app: FastAPI, settings: Settings) -> None:
    # The command writes to the database the session's app writes to (its sink, sweeper and message loops).
    # It runs in a thread while this test awaits it: run from a plain (sync) test, it once found the
    # event loop stopped with a background transaction open, SQLite's write lock held until a later
    # test ran the loop again, and gave up after its 30 s ("database is locked").
    env = {"FLASHSALE_DATABASE_URL": settings.effective_database_url, "FLASHSALE_REDIS_URL": settings.redis_url,
           "FLASHSALE_TIMEZONE": "Europe/Berlin", "FLASHSALE_VAR_DIR": str(settings.var_dir),
           "FLASHSALE_DATABASE_TIMEOUT_SECONDS": "30"}
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["drops", "schedule", "--sku", "sched-1", "--name", "Scheduled Phone",
                                  "--price-cents", "99900", "--stock", "100", "--weeks", "3"], env=env)
    assert result.exit_code == 0, result.output
    starts = [datetime.fromisoformat(line.split(" starts ")[1]) for line in result.output.splitlines()
              if " starts " in line]
    assert len(starts) == 3
    berlin = [s.astimezone(ZoneInfo("Europe/Berlin")) for s in starts]
    assert all((b.weekday(), b.hour, b.minute) == (1, 12, 0) for b in berlin)
    assert [(b - a).days for a, b in itertools.pairwise(berlin)] == [7, 7]


async def test_the_dashboard_stream_ends_soon_after_the_operator_is_demoted(
        app: FastAPI, client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    operator, boss = await make_account(app, "operator"), await make_account(app, "operator")
    drop = await create_drop(client, boss, stock=5)
    async with live_server(settings, monkeypatch) as port, httpx.AsyncClient(timeout=30) as live:
        url = f"http://127.0.0.1:{port}/api/admin/drops/{drop['id']}/events"
        async with live.stream("GET", url, headers=operator.headers) as stream:
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith("data: ")
            demoted = await client.patch(f"/api/admin/users/{operator.id}", json={"role": "shopper"},
                                         headers=boss.headers)
            assert demoted.status_code == 200, demoted.text
            started = time.monotonic()
            async with asyncio.timeout(10):
                async for _ in lines:  # ends: the server closed the stream
                    pass
            assert time.monotonic() - started < 3.5
