"""A real `flashsale serve` on a port of its own, FLASHSALE_PUBLIC_BASE_URL unset: its links use the
address it listens on; uvicorn believes no X-Forwarded-For from loopback; a body sent a byte at a
time is answered 408; redirects ignore the Host header."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.net import free_port
from core.settings import Settings
from tests.support import PASSWORD, buy, create_drop, make_account, make_accounts, pay
from tests.support.server import start_server, stop_process, wait_healthy
from tests.test_server_timeouts import SLOW_BODY_HEAD, _drip

pytestmark = pytest.mark.slow
BODY_TIMEOUT = 2.0
LOGIN_LIMIT = 5


@pytest.fixture
async def served(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    while port == 8000:
        port = free_port()
    process = start_server(settings, port, tmp_path, FLASHSALE_HTTP_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
                           FLASHSALE_LOGIN_PER_ADDRESS_PER_MINUTE=str(LOGIN_LIMIT))
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, process)
        yield url
    finally:
        stop_process(process)


async def test_links_use_the_port_served_on(app: FastAPI, served: str) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        drop = await create_drop(client, operator, stock=5)
        order = await pay(client, buyer, (await buy(client, buyer, drop["id"]))["id"])
        shared = await client.post(f"/api/orders/{order['id']}/share", headers=buyer.headers)
        assert shared.status_code == 201, shared.text
        link = shared.json()["url"]
        assert link.startswith(f"{served}/s/"), link
        page = await client.get(link.removeprefix(served))
        assert page.status_code == 200
        assert f'content="{served}/s/' in page.text  # og:image and og:url
        assert "127.0.0.1:8000" not in page.text
        moved = await client.get("/api/drops/", headers={"Host": "evil.example"})
        assert moved.headers["location"] == f"{served}/api/drops"


async def test_forwarded_for_from_loopback_is_not_believed(app: FastAPI, served: str) -> None:
    accounts = await make_accounts(app, LOGIN_LIMIT + 2)
    async with httpx.AsyncClient(base_url=served, timeout=30) as client:
        statuses = [(await client.post("/api/auth/token", data={"username": a.email, "password": PASSWORD},
                                       headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code
                    for i, a in enumerate(accounts)]
    # One address (127.0.0.1, which other tests may have used this minute too): at most the limit.
    assert statuses.count(200) <= LOGIN_LIMIT and statuses.count(429) >= 2, statuses


async def test_a_slow_body_is_answered_408(served: str) -> None:
    host, port = served.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(SLOW_BODY_HEAD)
    answer = await _drip(writer, reader, BODY_TIMEOUT + 8)
    assert time.monotonic() - started < BODY_TIMEOUT + 2
    assert answer.startswith(b"HTTP/1.1 408"), answer
    writer.close()
