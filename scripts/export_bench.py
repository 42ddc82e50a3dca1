"""How long the CSV export of one drop's orders takes, and what it costs the server in memory.

Seeds a fresh database with one drop of N orders (N buyers, some with Chinese email addresses; each
order with a number and a variant, the paid ones with a shipping address), starts `flashsale serve`
(one worker, so its PID is the process that streams), downloads
`GET /api/admin/drops/{id}/orders.csv` as an operator and prints: rows, bytes, seconds (first byte and
whole), and the server's resident memory (VmRSS) after start-up and its peak (VmHWM) after the export.

    .venv/bin/python scripts/export_bench.py [--orders 100000]
    .venv/bin/python scripts/export_bench.py --database-url postgresql://127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/0

On the embedded defaults it uses a temporary SQLite file and the embedded Valkey; with --database-url
(PostgreSQL) it creates and later drops a database of its own beside the one named.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import redis
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accounts.models import User  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.tokens import TokenService  # noqa: E402
from sale.models import Drop, Order  # noqa: E402

CHUNK = 5000


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


async def seed(settings: Settings, count: int) -> tuple[int, int, int]:
    """One drop with `count` orders by as many buyers, an empty one (to warm up with) and an operator:
    (drop id, operator id, empty drop id)."""
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            now = datetime.now(UTC)
            # Ended two hours ago, as a drop is when its orders are exported: the service's upkeep leaves
            # it alone (a live drop's state would be built in Redis as its orders came in, not at once).
            drop = Drop(sku="mi-15", name="小米 15 Ultra", price_cents=599900, currency="CNY", stock=count,
                        starts_at=now - timedelta(hours=3), priority_starts_at=now - timedelta(hours=3),
                        ends_at=now - timedelta(hours=2))
            empty = Drop(sku="mi-band", name="Mi Band", price_cents=29900, currency="CNY", stock=1,
                         starts_at=drop.starts_at, priority_starts_at=drop.starts_at, ends_at=drop.ends_at)
            operator = User(email="ops@example.com", password_hash="!", role="operator")  # noqa: S106 (no sign-in)
            session.add_all([drop, empty, operator])
            await session.flush()
            assert drop.id is not None and operator.id is not None and empty.id is not None
            drop_id, operator_id, empty_id = drop.id, operator.id, empty.id
        run = uuid.uuid4().hex[:6]
        for start in range(0, count, CHUNK):
            size = min(CHUNK, count - start)
            users = [{"email": (f"买家{n}-{run}@例子.公司" if n % 10 == 0 else f"buyer{n}-{run}@example.com"),
                      "password_hash": "!", "role": "shopper", "token_version": 0, "created_at": now}
                     for n in range(start, start + size)]
            async with make_sessionmaker(engine)() as session, session.begin():
                ids = (await session.execute(insert(User).returning(User.id), users)).scalars().all()
                orders = []
                for n, user_id in enumerate(ids, start):
                    created = now - timedelta(hours=3) + timedelta(milliseconds=n * 7)
                    status = ("paid", "paid", "paid", "paid", "paid", "paid", "paid", "expired", "expired",
                              "cancelled")[n % 10]
                    orders.append({
                        "id": f"{drop_id}-{secrets.token_hex(10)}", "drop_id": drop_id, "user_id": user_id,
                        "sku": "mi-15", "quantity": 1, "amount_cents": 599900, "currency": "CNY", "status": status,
                        "created_at": created, "pay_by": created + timedelta(minutes=30),
                        "paid_at": created + timedelta(seconds=40) if status == "paid" else None,
                        "ended_at": created + timedelta(minutes=30) if status != "paid" else None,
                        "payment_ref": "ch_" + secrets.token_hex(8) if status == "paid" else None,
                        "fcode_hash": None, "ref_token": None, "refund_status": None, "refunded_at": None,
                        "refund_ref": None, "number": f"{drop_id}-{n + 1:05d}",
                        "variant": ("mi-15-black", "mi-15-white")[n % 2],
                        "shipping": ({"name": f"王小明{n}", "phone": "+86 138 0013 8000", "country": "CN",
                                      "region": "北京市", "city": "北京", "line1": f"海淀区清河中街{n}号",
                                      "line2": None, "postal_code": "100085"} if status == "paid" else None)})
                await session.execute(insert(Order), orders)
        return drop_id, operator_id, empty_id
    finally:
        await engine.dispose()


async def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit("server exited")
            try:
                if (await client.get(base + "/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server did not come up")


async def download(base: str, path: str, token: str) -> tuple[int, int, float, float]:
    """(bytes, rows, seconds to the first byte, seconds in all), streamed and counted, never kept."""
    size = rows = 0
    first = 0.0
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=120) as client, client.stream(
            "GET", path, headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status_code == 200, response.status_code
        async for chunk in response.aiter_bytes():
            if not first:
                first = time.perf_counter() - started
            size += len(chunk)
            rows += chunk.count(b"\r\n")
    return size, rows - 1, first, time.perf_counter() - started


async def admin_sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="export-bench-"))
    database_url, pg_name = args.database_url, ""
    if database_url.startswith("postgresql"):
        pg_name = f"fs_export_{uuid.uuid4().hex[:8]}"
        asyncio.run(admin_sql(database_url, f'CREATE DATABASE "{pg_name}"'))
        database_url = f"{database_url.rsplit('/', 1)[0]}/{pg_name}"
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    try:
        run(args, var_dir, database_url, bool(pg_name), prefix)
    finally:
        if pg_name:
            asyncio.run(admin_sql(args.database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        if args.redis_url:
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"{prefix}:*", count=1000):
                client.delete(key)
            client.close()
        shutil.rmtree(var_dir, ignore_errors=True)


def run(args: argparse.Namespace, var_dir: Path, database_url: str, on_pg: bool, prefix: str) -> None:
    secret = secrets.token_urlsafe(48)
    env = {**os.environ, "FLASHSALE_VAR_DIR": str(var_dir), "FLASHSALE_DEMO": "false", "FLASHSALE_JWT_SECRET": secret,
           "FLASHSALE_SECRET_KEY": secrets.token_urlsafe(48), "FLASHSALE_LOG_LEVEL": "warning",
           "FLASHSALE_REDIS_PREFIX": prefix}
    if database_url:
        env["FLASHSALE_DATABASE_URL"] = database_url
    if args.redis_url:
        env["FLASHSALE_REDIS_URL"] = args.redis_url
    settings = Settings(database_url=database_url, var_dir=var_dir, jwt_secret=secret)
    upgrade(settings)
    started = time.perf_counter()
    drop_id, operator_id, empty_id = asyncio.run(seed(settings, args.orders))
    print(f"seeded {args.orders:,} orders in {time.perf_counter() - started:.1f} s "
          f"({'PostgreSQL' if on_pg else 'SQLite'})")
    token, _ = TokenService(settings).issue(operator_id, "operator")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),  # noqa: S603
                             "--workers", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    asyncio.run(measure(proc, f"http://127.0.0.1:{port}", drop_id, empty_id, token))


async def measure(proc: subprocess.Popen[bytes], base: str, drop_id: int, empty_id: int, token: str) -> None:
    try:
        await wait_up(base, proc)
        await download(base, f"/api/admin/drops/{empty_id}/orders.csv", token)  # imports, pools, caches
        before = memory_kb(proc.pid)
        size, rows, first, total = await download(base, f"/api/admin/drops/{drop_id}/orders.csv", token)
        after = memory_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"exported {rows:,} rows, {size / 1e6:.1f} MB: first byte {first * 1000:.0f} ms, all in {total:.2f} s "
          f"({rows / total:,.0f} rows/s)")
    print(f"server memory: RSS {before['VmRSS'] / 1024:.0f} MB before the export (peak so far "
          f"{before['VmHWM'] / 1024:.0f} MB), {after['VmRSS'] / 1024:.0f} MB after, peak "
          f"{after['VmHWM'] / 1024:.0f} MB")


if __name__ == "__main__":
    main()
