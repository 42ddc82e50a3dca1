"""Test helpers shared by the suites: servers, accounts, drops, purchases (share and F-code helpers beside)."""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis
from fastapi import FastAPI

from accounts.models import User
from accounts.passwords import hash_password
from app.wiring import Services
from core.runtime import Runtime

SERVICES = os.environ.get("FLASHSALE_TEST_SERVICES") == "1"
PG_URL = os.environ.get("FLASHSALE_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FLASHSALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def sync_redis(url: str) -> redis.Redis | redis.RedisCluster:
    """A blocking client for fixtures: a RedisCluster when `url` names a cluster node."""
    probe = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        probe.execute_command("CLUSTER", "INFO")
    except redis.ResponseError:
        return probe
    probe.close()
    return redis.RedisCluster.from_url(url)


def delete_prefix(url: str, prefix: str) -> None:
    """Removes a test run's keys: SCAN on every primary, then one DEL per key (keys of many slots)."""
    client = sync_redis(url)
    try:
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            pipe = client.pipeline(transaction=False)
            for key in keys[start:start + 500]:
                pipe.delete(key)
            pipe.execute()
    finally:
        client.close()
PASSWORD = "Correct-horse-1"
_PASSWORD_HASH = hash_password(PASSWORD)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Account:
    id: int
    email: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def runtime_of(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


def services_of(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


async def make_accounts(app: FastAPI, count: int, role: str = "shopper") -> list[Account]:
    """Inserts accounts directly (one shared password hash) and mints their tokens: fast for crowds."""
    runtime = runtime_of(app)
    users = [User(email=f"{role}-{uuid.uuid4().hex[:12]}@example.com", password_hash=_PASSWORD_HASH, role=role)
             for _ in range(count)]
    async with runtime.sessions() as session, session.begin():
        session.add_all(users)
        await session.flush()
    accounts = []
    for user in users:
        assert user.id is not None
        token, _ = runtime.tokens.issue(user.id, role)
        accounts.append(Account(user.id, user.email, role, token))
    return accounts


async def make_account(app: FastAPI, role: str = "shopper") -> Account:
    return (await make_accounts(app, 1, role))[0]


async def create_drop(client: httpx.AsyncClient, operator: Account, **overrides: Any) -> dict[str, Any]:
    start = now() - timedelta(seconds=5)
    body: dict[str, Any] = {"sku": f"sku-{uuid.uuid4().hex[:8]}", "name": "Mi Phone", "price_cents": 199900,
                            "currency": "CNY", "stock": 10, "starts_at": iso(start),
                            "ends_at": iso(start + timedelta(hours=1)), "per_user_limit": 1}
    body.update(overrides)
    response = await client.post("/api/admin/drops", json=body, headers=operator.headers)
    assert response.status_code == 201, response.text
    drop: dict[str, Any] = response.json()
    return drop


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def is_problem(response: httpx.Response, status: int, code: str | None = None) -> bool:
    return (response.status_code == status
            and response.headers.get("content-type", "").startswith("application/problem+json")
            and (code is None or response.json().get("code") == code))


async def purchase(client: httpx.AsyncClient, drop_id: int, headers: dict[str, str], **body: Any) -> httpx.Response:
    """One purchase request (one unit unless the body says otherwise); the answer as it came."""
    return await client.post(f"/api/drops/{drop_id}/purchase", json={"quantity": 1, **body}, headers=headers)


async def buy(client: httpx.AsyncClient, buyer: Account, drop_id: int, **body: Any) -> dict[str, Any]:
    """A purchase that must succeed: the order."""
    response = await purchase(client, drop_id, buyer.headers, **body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def pay(client: httpx.AsyncClient, buyer: Account, order_id: str) -> dict[str, Any]:
    """Pays with the test provider's approving token: the paid order."""
    response = await client.post(f"/api/orders/{order_id}/pay", json={"payment_token": "test_ok"},
                                 headers=buyer.headers)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def stats(client: httpx.AsyncClient, operator_headers: dict[str, str], drop_id: int) -> dict[str, Any]:
    """The drop's stats, checking on every read that no unit appeared or vanished."""
    response = await client.get(f"/api/admin/drops/{drop_id}/stats", headers=operator_headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    assert data["remaining"] + data["reserved"] + data["paid"] == data["stock"], data
    return data
