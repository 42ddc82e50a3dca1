"""Restarts: Redis restarted mid-sale (from its append-only file, or empty), and the service itself
stopped with SIGTERM mid-rehearsal. Nothing acknowledged is lost or doubled."""
from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import select

from core.net import free_port
from core.settings import Settings
from sale.models import Order
from sale.share.models import ShareLink
from tests.support import SERVICES, Account, create_drop, eventually, make_account, make_accounts, runtime_of
from tests.support.faults import Tally, buy_and_pay, faulty_service, report, settled, sql_state
from tests.support.server import start_server, stop_process, wait_healthy

pytestmark = pytest.mark.cluster  # its services clean up per primary (delete_prefix)


class OwnRedis:
    """A Redis of the test's own, append-only like production's, to stop and start mid-sale: the
    machine's redis-server in the services pass, the embedded Valkey on the defaults."""

    def __init__(self, data_dir: Path) -> None:
        from core.embedded_redis import server_binary

        self.binary = shutil.which("redis-server") if SERVICES else server_binary()
        assert self.binary, "FLASHSALE_TEST_SERVICES=1 needs redis-server on the PATH"
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(self.binary), "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.data_dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(200):
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise AssertionError("own Redis did not start")

    def stop(self) -> None:
        """SIGTERM: the server writes its append-only file out and exits, as in a planned restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)


@pytest.mark.slow  # a Redis server process stopped and restarted on real time
@pytest.mark.parametrize("comes_back", ["from its append-only file", "empty"])
async def test_redis_restart_mid_sale(comes_back: str, settings: Settings, database_url: str,
                                      tmp_path: Path) -> None:
    own = OwnRedis(tmp_path / "redis")
    own.start()
    try:
        sqlite_path = None if SERVICES else Path(database_url.split(":///", 1)[1])
        async with faulty_service(settings, database_url, own.url, tmp_path / "var", sqlite_path) as service:
            app, client = service.app, service.client
            operator = await make_account(app, "operator")
            buyers = await make_accounts(app, 70)
            drop = await create_drop(client, operator, stock=60)
            tally = Tally()
            await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[:20]))
            if comes_back == "empty":
                # A replica promoted empty, or a server without persistence: only what SQL holds
                # survives, so the sink must have caught up (it had, in well under a second).
                await eventually(lambda: _sql_has(app, drop["id"], tally), timeout=15)
            own.stop()
            if comes_back == "empty":
                shutil.rmtree(own.data_dir)
            during = asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally, attempts=100)
                                      for b in buyers[20:50]))
            await asyncio.sleep(1.5)
            own.start()
            await during
            await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[50:]))

            async def clean() -> bool:
                outcome = await settled(app, drop["id"], tally)
                return not outcome.lost and not outcome.doubled

            await eventually(clean, timeout=30, interval=0.25)
            outcome = await settled(app, drop["id"], tally)
            report(f"Redis restarted, back {comes_back}", tally, len(outcome.lost), len(outcome.doubled))
            assert tally.unavailable_at and not tally.server_errors() and not tally.missing_retry_after
            assert sum(1 for s in tally.acknowledged.values() if s == "paid") == 60  # sold out, all paid
    finally:
        own.stop()


async def _sql_has(app: object, drop_id: int, tally: Tally) -> bool:
    orders, links = await sql_state(app, drop_id)  # type: ignore[arg-type]
    paid = {o.id for o in orders if o.status == "paid"}
    return all(oid in paid and oid in links for oid, s in tally.acknowledged.items() if s == "paid")


@pytest.mark.slow
async def test_sigterm_mid_rehearsal_lets_requests_finish_and_the_sink_drain(
        app: object, client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    operator = await make_account(app, "operator")  # type: ignore[arg-type]
    buyers: list[Account] = await make_accounts(app, 500)  # type: ignore[arg-type]
    drop = await create_drop(client, operator, stock=400)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(settings, port, tmp_path, workers=2)
    acknowledged: dict[str, str] = {}
    statuses: Counter[object] = Counter()
    try:
        await wait_healthy(base, proc)
        async with httpx.AsyncClient(base_url=base, timeout=15, limits=httpx.Limits(max_connections=64)) as remote:
            async def shopper(buyer: Account) -> None:
                try:
                    r = await remote.post(f"/api/drops/{drop['id']}/purchase", headers=buyer.headers)
                    statuses[r.status_code] += 1
                    if r.status_code != 201:
                        return
                    order_id = r.json()["id"]
                    acknowledged[order_id] = "reserved"
                    if len(acknowledged) >= 60:
                        some_sold.set()
                    r = await remote.post(f"/api/orders/{order_id}/pay", json={"payment_token": "test_ok"},
                                          headers=buyer.headers)
                    statuses[r.status_code] += 1
                    if r.status_code == 200:
                        acknowledged[order_id] = "paid"
                except httpx.HTTPError:
                    statuses["no answer"] += 1  # refused once the server stopped listening

            some_sold = asyncio.Event()
            load = asyncio.gather(*(shopper(b) for b in buyers))
            await asyncio.wait_for(some_sold.wait(), timeout=90)  # a loaded CI machine: fuzzing beside it
            proc.send_signal(signal.SIGTERM)  # mid-load: uvicorn stops accepting, finishes what it has
            await load
        assert proc.wait(timeout=60) == 0
        assert not [s for s in statuses if isinstance(s, int) and s >= 500], statuses
        # Before any restart: the workers wrote everything they acknowledged on their way out.
        orders, links = await sql_state(app, drop["id"])  # type: ignore[arg-type]
        rows = {o.id: o for o in orders}
        lost = [oid for oid, s in acknowledged.items()
                if oid not in rows or (s == "paid" and (rows[oid].status != "paid" or oid not in links))]
        print(f"\n[SIGTERM mid-rehearsal] {statuses}; acknowledged {len(acknowledged)} orders, "
              f"{sum(s == 'paid' for s in acknowledged.values())} paid; lost {len(lost)} (before restart)")
        assert not lost
        # In-flight requests finished: no order was made whose buyer did not get the answer.
        assert set(rows) == set(acknowledged)
        runtime = runtime_of(app)  # type: ignore[arg-type]
        keys = runtime.keys.drop(drop["id"])
        assert await runtime.redis.xlen(keys.stream) == 0  # drained: nothing left for the next start
        proc = start_server(settings, port, tmp_path, workers=2)
        await wait_healthy(base, proc)
        async with runtime.sessions() as session:
            again = list((await session.execute(select(Order).where(Order.drop_id == drop["id"]))).scalars())
            shared = list((await session.execute(select(ShareLink).where(ShareLink.drop_id == drop["id"]))).scalars())
        assert len(again) == len(rows) and len({o.user_id for o in again}) == len(again)
        assert len(shared) == sum(o.status == "paid" for o in again)
    finally:
        stop_process(proc, timeout=30)
