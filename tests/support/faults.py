"""Support for the fault tests: a service whose back ends can be taken away on cue, and the tally
of what buyers were answered while they were."""
from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.main import create_app
from core.settings import Settings
from sale.models import Order
from sale.share.models import ShareLink
from tests.support import Account, delete_prefix, runtime_of
from tests.support.faultproxy import FaultProxy


class DatabaseFault(Protocol):
    label: str

    def cut(self) -> None: ...

    def restore(self) -> None: ...


class ProxyCut:
    """PostgreSQL unreachable: every connection through the proxy is reset, new ones refused."""

    label = "PostgreSQL connection cut"

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy

    def cut(self) -> None:
        self.proxy.cut()

    def restore(self) -> None:
        self.proxy.restore()


class SqliteLock:
    """SQLite can't be proxied: another connection takes the write lock and holds it (as a long
    writer, a backup or a stuck migration does). Every write of the service waits for it, then fails
    with "database is locked"; reads go on (WAL)."""

    label = "SQLite write lock held"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._holder: sqlite3.Connection | None = None

    def cut(self) -> None:
        # Waits for the service's own writer (the sink's batch) to finish first, on a busy machine too.
        self._holder = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        self._holder.execute("BEGIN IMMEDIATE")

    def restore(self) -> None:
        if self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None


@dataclass
class Faulty:
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    database: DatabaseFault
    redis_proxy: FaultProxy


@asynccontextmanager
async def faulty_service(base: Settings, database_url: str, redis_url: str, var_dir: Path,
                         sqlite_path: Path | None) -> AsyncIterator[Faulty]:
    """The service (in process, with its sink and sweeper) behind proxies: its own Redis key prefix,
    so its background loops and the suite's other app never share a stream consumer."""
    from tests.conftest import make_settings

    redis_proxy = await FaultProxy.for_url(redis_url).start()
    db_proxy: FaultProxy | None = None
    if sqlite_path is None:
        db_proxy = await FaultProxy.for_url(database_url).start()
        database: DatabaseFault = ProxyCut(db_proxy)
        db_url = db_proxy.proxied(database_url)
    else:
        database, db_url = SqliteLock(sqlite_path), database_url
    prefix = f"{base.redis_prefix}f{uuid.uuid4().hex[:4]}"
    # The message loops off (as in `flashsale serve`'s web workers): these tests measure the sale through
    # outages; the loops (openings, draws, the sender) are more SQL writers beside the sink (on SQLite
    # one writer at a time), tested in tests/test_messages*.py and tests/test_draws.py.
    settings = make_settings(db_url, redis_proxy.proxied(redis_url), var_dir, redis_prefix=prefix,
                             database_timeout_seconds=1.0, sink_claim_idle_ms=1000, payment_lease_seconds=1.0,
                             message_loops=False)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
                yield Faulty(app, client, settings, database, redis_proxy)
    finally:
        database.restore()
        redis_proxy.restore()
        await redis_proxy.stop()
        if db_proxy is not None:
            await db_proxy.stop()
        delete_prefix(redis_url, prefix)


@dataclass
class Tally:
    """Every answer buyers got, and when: how long they saw 503s, and whether any was a 500."""

    started: float = field(default_factory=time.monotonic)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    unavailable_at: list[float] = field(default_factory=list)
    missing_retry_after: int = 0
    acknowledged: dict[str, str] = field(default_factory=dict)  # order id -> "reserved" | "paid"
    share_urls: dict[str, str] = field(default_factory=dict)

    def answer(self, name: str, response: httpx.Response) -> None:
        self.answers[(name, response.status_code)] += 1
        if response.status_code == 503:
            self.unavailable_at.append(time.monotonic() - self.started)
            if not response.headers.get("retry-after"):
                self.missing_retry_after += 1

    def server_errors(self) -> dict[tuple[str, int], int]:
        return {key: n for key, n in self.answers.items() if key[1] >= 500 and key[1] != 503}

    def unavailable_window(self) -> float:
        """Seconds from the first 503 buyers saw to the last (0 when none)."""
        return max(self.unavailable_at) - min(self.unavailable_at) if self.unavailable_at else 0.0


def report(name: str, tally: Tally, lost: int, doubled: int) -> None:
    """The figures of a fault test, printed (pytest -s shows them)."""
    answers = ", ".join(f"{n} {status}x{count}" for (n, status), count in sorted(tally.answers.items()))
    print(f"\n[{name}] buyers saw 503s for {tally.unavailable_window():.2f} s "
          f"({len(tally.unavailable_at)} answers); lost {lost}, doubled {doubled}; {answers}")


async def buy_and_pay(client: httpx.AsyncClient, drop_id: int, buyer: Account, tally: Tally, *,
                      pay: bool = True, attempts: int = 40) -> None:
    """A buyer who retries on 503 (honouring Retry-After briefly) with the same Idempotency-Key."""
    key = uuid.uuid4().hex
    order: dict[str, Any] | None = None
    for _ in range(attempts):
        r = await client.post(f"/api/drops/{drop_id}/purchase", json={"quantity": 1},
                              headers={**buyer.headers, "Idempotency-Key": key})
        tally.answer("purchase", r)
        if r.status_code == 201:
            order = r.json()
            tally.acknowledged[order["id"]] = "reserved"
            break
        if r.status_code != 503:
            return
        await asyncio.sleep(0.2)
    if order is None or not pay:
        return
    for _ in range(attempts):
        r = await client.post(f"/api/orders/{order['id']}/pay", json={"payment_token": "test_ok"},
                              headers=buyer.headers)
        tally.answer("pay", r)
        if r.status_code == 200:
            tally.acknowledged[order["id"]] = "paid"
            tally.share_urls[order["id"]] = r.json()["share_url"]
            return
        if r.status_code != 503:
            return
        await asyncio.sleep(0.2)


async def sql_state(app: FastAPI, drop_id: int) -> tuple[list[Order], dict[str, ShareLink]]:
    async with runtime_of(app).sessions() as session:
        orders = list((await session.execute(select(Order).where(Order.drop_id == drop_id))).scalars().all())
        links = (await session.execute(select(ShareLink).where(ShareLink.drop_id == drop_id))).scalars().all()
    return orders, {link.order_id: link for link in links}


@dataclass(frozen=True)
class Outcome:
    lost: list[str]
    doubled: list[str]


async def settled(app: FastAPI, drop_id: int, tally: Tally) -> Outcome:
    """Compares what buyers were told with SQL (once the sink caught up) and Redis: an acknowledged
    order or payment missing from SQL is lost; a unit counted twice anywhere is doubled."""
    orders, links = await sql_state(app, drop_id)
    rows = {o.id: o for o in orders}
    lost = [oid for oid in tally.acknowledged if oid not in rows]
    for oid, status in tally.acknowledged.items():
        row = rows.get(oid)
        if row is not None and status == "paid":
            link = links.get(oid)
            if row.status != "paid" or link is None or not tally.share_urls[oid].endswith("/s/" + link.token):
                lost.append(oid)
    runtime = runtime_of(app)
    live = await runtime.redis.hgetall(runtime.keys.drop(drop_id).orders)  # type: ignore[misc]
    doubled = [o.id for o in orders if o.id.encode() not in live]  # rows no unit stands behind
    held = Counter(o.user_id for o in orders if o.status in ("reserved", "paid"))
    doubled += [f"user {uid} holds {n}" for uid, n in held.items() if n > 1]
    inv = await runtime.redis.hgetall(runtime.keys.drop(drop_id).inv)  # type: ignore[misc]
    paid_rows = sum(o.quantity for o in orders if o.status == "paid")
    if int(inv[b"paid"]) != paid_rows:
        doubled.append(f"paid units: Redis {int(inv[b'paid'])}, SQL {paid_rows}")
    if int(inv[b"remaining"]) + int(inv[b"reserved"]) + int(inv[b"paid"]) != int(inv[b"stock"]):
        doubled.append("remaining + reserved + paid != stock")
    return Outcome(lost, doubled)
