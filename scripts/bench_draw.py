"""Issue 24's figures.

1. Entering: `PUT /api/drops/{id}/entry` by distinct accounts against `flashsale serve` (one worker,
   embedded Valkey, SQLite), in entries per second with p50/p99 latency (loadtest.httpgen).
2. The draw: N entries (written straight into the drop's Redis entry hash, as draw_entry.lua keeps
   it, and into SQL's draw_entries as the sink records them, unless --no-sql-entries; N accounts in
   SQL), then the draw made by the draw runner: read, ranked, every rank, the draw's
   figures and every result message (with its deliveries) written in one transaction, winners and
   backups put in Redis. Timed from the call to every result message in the outbox.

    .venv/bin/python scripts/bench_draw.py [--entries 1000000] [--enter-seconds 8] [--accounts 40000] [--rate R]
                                           [--database-url URL] [--redis-url URL] [--skip-enter]
                                           [--no-sql-entries]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from accounts.models import User
from app.bootstrap import running
from core.db import make_engine, make_sessionmaker
from core.embedded_redis import EmbeddedRedis
from core.migrate import upgrade
from core.net import free_port
from core.settings import Settings
from core.tokens import TokenService
from loadtest import httpgen
from loadtest.bench_support import start, stop, wait_ready
from messages.models import Delivery, Message
from sale.draw.models import DrawEntry
from sale.draw.seed import new_draw
from sale.models import Drop

SECRET = "bench-secret-" + "d" * 40


async def make_users(settings: Settings, count: int, tag: str) -> list[int]:
    engine = make_engine(settings)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        first = (await session.execute(select(func.coalesce(func.max(User.id), 0)))).scalar_one() + 1
        for start_at in range(0, count, 50_000):
            await session.execute(insert(User), [{"email": f"d{tag}-{start_at + i}@example.com", "password_hash": "x",
                                                  "role": "shopper", "token_version": 0, "created_at": now}
                                                 for i in range(min(50_000, count - start_at))])
        ids = list((await session.execute(select(User.id).where(User.id >= first))).scalars())
    await engine.dispose()
    return [int(i) for i in ids]


async def make_draw(settings: Settings, close_in: timedelta, stock: int) -> int:
    engine = make_engine(settings)
    now = datetime.now(UTC)
    async with make_sessionmaker(engine)() as session, session.begin():
        drop = Drop(sku="draw-bench", name="Bench Draw", price_cents=99900, currency="CNY", stock=stock,
                    priority_starts_at=now + close_in, starts_at=now + close_in, ends_at=now + timedelta(days=1),
                    per_user_limit=1, pay_window_seconds=1800, mode="draw", backups=stock,
                    entries_open_at=now - timedelta(minutes=1), entries_close_at=now + close_in)
        session.add(drop)
        await session.flush()
        assert drop.id is not None
        session.add(new_draw(drop.id))
        drop_id = drop.id
    await engine.dispose()
    return drop_id


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user and system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench_enter(settings: Settings, work: Path, redis_url: str, accounts: int, seconds: float,
                      connections: int, rate: float) -> None:
    users = await make_users(settings, accounts, "e")
    drop_id = await make_draw(settings, timedelta(hours=1), 1000)
    tokens = TokenService(settings)
    path = f"/api/drops/{drop_id}/entry"
    port = free_port()
    requests = [(f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: 2\r\nAuthorization: Bearer {tokens.issue(u, 'shopper')[0]}\r\n\r\n{{}}").encode()
                for u in users]
    env = {**os.environ, "FLASHSALE_DATABASE_URL": settings.effective_database_url, "FLASHSALE_REDIS_URL": redis_url,
           "FLASHSALE_REDIS_PREFIX": settings.redis_prefix, "FLASHSALE_JWT_SECRET": SECRET,
           "FLASHSALE_VAR_DIR": str(work), "FLASHSALE_DRAW_ENTRIES_PER_ADDRESS": "100000000",
           "FLASHSALE_LOG_LEVEL": "warning", "FLASHSALE_DEMO": "false"}
    app = start([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"], env,
                work / "app.log")
    try:
        await wait_ready(f"http://127.0.0.1:{port}/healthz", app)
        await asyncio.sleep(1.0)
        client_cpu, server_cpu = time.process_time(), cpu_seconds(app.pid)
        result = await httpgen.run("127.0.0.1", port, requests, connections, seconds, rate=rate)
        client_cpu, server_cpu = time.process_time() - client_cpu, cpu_seconds(app.pid) - server_cpu
    finally:
        stop(app)
    if result.total > len(requests):
        print(f"note: {result.total} requests for {len(requests)} accounts: some entered again (same entry)")
    print(f"entering: {result.total / result.seconds:.0f} entries/s over {result.seconds:.1f} s, "
          f"p50 {result.percentile(0.5) * 1000:.1f} ms, p99 {result.percentile(0.99) * 1000:.1f} ms, "
          f"statuses {dict(result.statuses)} ({connections} connections, "
          f"{f'paced at {rate:.0f}/s' if rate else 'closed loop'}, 1 worker; CPU: the server "
          f"{server_cpu / result.seconds:.0%} of a core, this client {client_cpu / result.seconds:.0%})")


async def record_entries(settings: Settings, drop_id: int, eids: dict[int, str]) -> None:
    engine = make_engine(settings)
    now = datetime.now(UTC)
    rows = [{"id": eid, "drop_id": drop_id, "user_id": u, "status": "entered", "address": "", "variant": None,
             "created_at": now, "changed_at": now} for u, eid in eids.items()]
    async with make_sessionmaker(engine)() as session, session.begin():
        for start_at in range(0, len(rows), 50_000):
            await session.execute(insert(DrawEntry), rows[start_at:start_at + 50_000])
    await engine.dispose()


async def bench_draw(settings: Settings, entries: int, stock: int, sql_entries: bool) -> None:
    started = time.perf_counter()
    users = await make_users(settings, entries, "w")
    drop_id = await make_draw(settings, timedelta(seconds=1), stock)
    print(f"setup: {entries} accounts in {time.perf_counter() - started:.1f} s")
    async with running(settings, background=False) as services:
        drop = await services.catalog.get(drop_id)
        assert drop is not None
        await services.loader.load(drop)
        k = services.runtime.keys.drop(drop_id)
        redis = services.runtime.redis
        eids = {u: os.urandom(8).hex() for u in users}
        for start_at in range(0, len(users), 20_000):
            chunk = users[start_at:start_at + 20_000]
            await redis.hset(k.draw_entries, mapping={str(u): f"{eids[u]}|e||" for u in chunk})
        await redis.hset(k.inv, "entered", len(users))
        if sql_entries:  # as the sink would have recorded them: the draw reads both
            await record_entries(settings, drop_id, eids)
        due = (drop.starts_at.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(0.0, due) + 0.05)  # the draw's time
        began, cpu = time.perf_counter(), time.process_time()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.enable()
        made = await services.draw_runner.draw(drop)
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
        if os.environ.get("BENCH_PROFILE"):
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        async with services.runtime.sessions() as session:
            told = (await session.execute(select(func.count()).select_from(Message).where(
                Message.drop_id == drop_id, Message.kind == "draw_result"))).scalar_one()
            deliveries = (await session.execute(select(func.count()).select_from(Delivery).join(
                Message, Delivery.message_id == Message.id).where(Message.drop_id == drop_id))).scalar_one()
    print(f"draw: {entries} entries drawn ({stock} units), ranks, results and {told} result messages "
          f"({deliveries} deliveries) in the outbox in {took:.2f} s ({cpu:.2f} s CPU in this process; made={made}, "
          f"{make_engine(settings).dialect.name})")


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="flashsale-draw-bench-"))
    redis_server = None
    redis_url = args.redis_url
    if not redis_url:
        redis_server = EmbeddedRedis(work / "redis", persist=False)
        redis_url = redis_server.start()
    try:
        settings = Settings(database_url=args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}",
                            redis_url=redis_url, jwt_secret=SECRET, var_dir=work,
                            redis_prefix=f"dbench{os.getpid()}", demo=False,
                            database_timeout_seconds=args.database_timeout)
        await asyncio.to_thread(upgrade, settings)
        if not args.skip_enter:
            await bench_enter(settings, work, redis_url, args.accounts, args.enter_seconds, args.connections,
                              args.rate)
        if args.entries:
            await bench_draw(settings, args.entries, args.stock, not args.no_sql_entries)
    finally:
        if redis_server is not None:
            redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--stock", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=40_000)
    parser.add_argument("--enter-seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="entries per second in all, paced (open loop); 0: each connection as fast as answered")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--skip-enter", action="store_true")
    parser.add_argument("--no-sql-entries", action="store_true",
                        help="entries in Redis only (by default SQL holds them too, as the sink writes them)")
    parser.add_argument("--database-timeout", type=float, default=120.0,
                        help="the draw's bulk statements on a million entries outlast the default command timeout")
    return parser.parse_args()


if __name__ == "__main__":
    logging.basicConfig(format="%(message)s")
    logging.getLogger("flashsale.draw").setLevel(logging.INFO)  # the draw's phases, timed
    sys.exit(asyncio.run(main(parse())))
