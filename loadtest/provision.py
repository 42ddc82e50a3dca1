"""Everything a rehearsal needs before the open: the operator's token, buyer and employee accounts
with their tokens (fetched up front, so no password is hashed during the run), and the drop.

Accounts come one of two ways:
- `api`: registered with POST /api/auth/register and logged in with POST /api/auth/token,
  concurrently. Honest, but each account costs the server an Argon2 hash and a verification
  (about 0.25 s of CPU here): fine for hundreds, slow for thousands.
- `seed`: for a server this command started itself: rows inserted into its database with one
  shared password hash and tokens minted with its JWT secret, the way the test suite does it.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from core.settings import Settings
from loadtest.plan import Account

Say = Callable[[str], None]
PRICE_CENTS = 199_900


class ProvisionError(RuntimeError):
    pass


def iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat()


async def _retrying(send: Callable[[], Awaitable[httpx.Response]], attempts: int = 8) -> httpx.Response:
    """Retries what a busy server may refuse for a moment: 429 (after Retry-After), 503, dropped links."""
    delay = 0.2
    for attempt in range(attempts):
        try:
            response = await send()
        except httpx.TransportError:
            if attempt == attempts - 1:
                raise
        else:
            if response.status_code not in (429, 502, 503, 504) or attempt == attempts - 1:
                return response
            retry_after = response.headers.get("retry-after", "")
            delay = float(retry_after) if retry_after.isdigit() else delay
        await asyncio.sleep(min(delay, 10.0))
        delay *= 2
    raise AssertionError("unreachable")


async def login(client: httpx.AsyncClient, email: str, password: str) -> str:
    form = {"username": email, "password": password}
    response = await _retrying(lambda: client.post("/api/auth/token", data=form))
    if response.status_code != 200:
        raise ProvisionError(f"login as {email} answered {response.status_code}: {response.text[:200]}")
    token: str = response.json()["access_token"]
    return token


async def register_accounts(client: httpx.AsyncClient, count: int, role: str, operator_token: str,
                            run_id: str, *, concurrency: int = 8, say: Say = print) -> list[Account]:
    """Registers `count` accounts through the API, promotes them to `role`, then fetches their tokens."""
    password = f"Lt-{uuid.uuid4().hex}"
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(index: int) -> Account:
        nonlocal done
        email = f"lt-{run_id}-{role}-{index}@example.com"
        async with gate:
            answer = await _retrying(lambda: client.post("/api/auth/register",
                                                         json={"email": email, "password": password}))
            if answer.status_code != 201:
                raise ProvisionError(f"register answered {answer.status_code}: {answer.text[:200]}")
            user_id = int(answer.json()["id"])
            if role != "shopper":
                promoted = await _retrying(lambda: client.patch(
                    f"/api/admin/users/{user_id}", json={"role": role},
                    headers={"Authorization": f"Bearer {operator_token}"}))
                if promoted.status_code != 200:
                    raise ProvisionError(f"role change answered {promoted.status_code}: "
                                         f"{promoted.text[:200]}")
            token = await login(client, email, password)
        done += 1
        if done % max(1, count // 10) == 0:
            say(f"  {done}/{count} {role} accounts registered and logged in")
        return Account(user_id, token)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def seed_accounts(settings: Settings, count: int, role: str, run_id: str) -> list[Account]:
    """Inserts accounts straight into the server's database and mints their tokens (own server only)."""
    from accounts.models import User
    from accounts.passwords import hash_password
    from core.db import make_engine, make_sessionmaker
    from core.tokens import TokenService

    shared_hash = hash_password(f"Lt-{uuid.uuid4().hex}")
    engine = make_engine(settings)
    users: list[User] = []
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            for start in range(0, count, 1000):
                chunk = [User(email=f"lt-{run_id}-{role}-{i}@example.com", password_hash=shared_hash,
                              role=role) for i in range(start, min(count, start + 1000))]
                session.add_all(chunk)
                await session.flush()
                users.extend(chunk)
    finally:
        await engine.dispose()
    tokens = TokenService(settings)
    accounts = []
    for user in users:
        assert user.id is not None
        accounts.append(Account(user.id, tokens.issue(user.id, role)[0]))
    return accounts


@dataclass(frozen=True, slots=True)
class DropSpec:
    """The drop a run sells (`extra`: further fields of the admin API's body, such as the waiting room's)."""

    run_id: str
    stock: int
    per_user_limit: int
    starts_at: float  # epoch seconds
    priority_minutes: int
    pay_window_seconds: int
    duration: float  # seconds of the run after the open
    extra: dict[str, Any] = field(default_factory=dict)


async def create_drop(client: httpx.AsyncClient, operator_token: str, spec: DropSpec) -> dict[str, Any]:
    # The contract's default of an hour, unless the run is longer: the drop must not end mid-run.
    length = max(timedelta(hours=1), timedelta(seconds=spec.duration + 600))
    ends_at = datetime.fromtimestamp(spec.starts_at, UTC) + length
    body = {"sku": f"lt-{spec.run_id}", "name": f"Rehearsal {spec.run_id}", "price_cents": PRICE_CENTS,
            "currency": "CNY", "stock": spec.stock, "starts_at": iso(spec.starts_at), "ends_at": ends_at.isoformat(),
            "priority_minutes": spec.priority_minutes, "per_user_limit": spec.per_user_limit,
            "pay_window_seconds": spec.pay_window_seconds, **spec.extra}
    response = await _retrying(lambda: client.post("/api/admin/drops", json=body,
                                                   headers={"Authorization": f"Bearer {operator_token}"}))
    if response.status_code != 201:
        raise ProvisionError(f"creating the drop answered {response.status_code}: {response.text[:300]}")
    drop: dict[str, Any] = response.json()
    return drop


def epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
