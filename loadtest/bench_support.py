"""`make bench`'s machinery: the accounts and drop it buys from, server processes, a Redis Cluster for
`--cluster`, and Redis's own accounting (CPU, commands) read between two INFO snapshots."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from accounts.models import User
from accounts.passwords import hash_password
from core.db import make_engine, make_sessionmaker
from core.keys import Keys
from core.redis import connect_redis, make_redis, primaries
from core.settings import Settings
from core.tokens import TokenService
from sale.models import Drop, Order


@dataclass
class RedisUsage:
    """Redis work between two INFO snapshots, summed over the primaries: CPU seconds (main process,
    all threads) and commands executed (commands inside Lua scripts count one each)."""

    cpu_seconds: float
    calls: dict[str, int]

    def minus(self, before: RedisUsage) -> RedisUsage:
        calls = {name: count - before.calls.get(name, 0) for name, count in self.calls.items()}
        return RedisUsage(self.cpu_seconds - before.cpu_seconds, {k: v for k, v in calls.items() if v > 0})


async def redis_usage(redis_url: str) -> RedisUsage:
    client = await connect_redis(redis_url)
    nodes = await primaries(client)
    cpu, calls = 0.0, dict[str, int]()
    try:
        for node in nodes:
            info = await node.info("cpu")
            cpu += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
            for name, stats in (await node.info("commandstats")).items():
                command = name.removeprefix("cmdstat_")
                if command not in ("info", "cluster|nodes", "cluster|slots", "cluster|shards", "command",
                                   "command|docs", "command|info"):
                    calls[command] = calls.get(command, 0) + int(stats["calls"])
    finally:
        for node in nodes:
            await node.aclose()
        await client.aclose()
    return RedisUsage(cpu, calls)


async def provision(settings: Settings, buyers: int, waiting_room: bool) -> tuple[int, list[str], list[int]]:
    engine = make_engine(settings)
    tokens = TokenService(settings)
    password_hash = hash_password("bench-password-1")
    now = datetime.now(UTC)
    async with make_sessionmaker(engine)() as session, session.begin():
        users = [User(email=f"buyer{i}@bench.example", password_hash=password_hash) for i in range(buyers)]
        session.add_all(users)
        drop = Drop(sku="bench-phone", name="Bench Phone", price_cents=99900, currency="CNY", stock=10_000_000,
                    priority_starts_at=now - timedelta(minutes=1), starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(hours=2), per_user_limit=1000, pay_window_seconds=3600,
                    waiting_room=waiting_room, admit_per_second=100_000)
        session.add(drop)
        await session.flush()
        assert drop.id is not None
        minted = [tokens.issue(u.id or 0, "shopper")[0] for u in users]
        ids = [u.id or 0 for u in users]
    await engine.dispose()
    return drop.id, minted, ids


async def admit_everyone(redis_url: str, settings: Settings, drop_id: int, user_ids: list[int]) -> None:
    """Waiting room on: every buyer holds an admission for the whole run, as if the line had let them in
    (the purchase script checks and uses it up; the line itself is `flashsale loadtest --bots`' part)."""
    redis = make_redis(redis_url)
    k = Keys(settings.redis_prefix).drop(drop_id)
    until = int((time.time() + 3 * 3600) * 1000)
    for start_at in range(0, len(user_ids), 5000):
        chunk = user_ids[start_at:start_at + 5000]
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zadd(k.admitted, {str(uid): until for uid in chunk})
            pipe.hset(k.tickets, mapping={str(uid): "a" for uid in chunk})
            await pipe.execute()
    await redis.aclose()


async def sql_orders(settings: Settings, drop_id: int) -> int:
    engine = make_engine(settings)
    async with make_sessionmaker(engine)() as session:
        count = (await session.execute(select(func.count()).where(col(Order.drop_id) == drop_id))).scalar_one()
    await engine.dispose()
    return int(count)


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {' '.join(map(str, proc.args))}")  # type: ignore[arg-type]
            try:
                await client.get(url)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "redis-cluster"


def start_cluster(state: Path) -> str:
    """A 3-primary, 3-replica cluster (scripts/redis-cluster) with AOF on, on six free loopback ports."""
    for base in range(10000, 12000, 97):  # it and its bus ports (+10000) below the ephemeral ports (32768+)
        if all(port_free(base + i) and port_free(base + 10000 + i) for i in range(6)):
            done = subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "start", "--port", str(base), "--dir",
                                   str(state), "--appendonly"], capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(f"redis-cluster did not start: {done.stderr or done.stdout}")
            return done.stdout.strip().splitlines()[-1]
    raise RuntimeError("no six free ports for the cluster")


def stop_cluster(state: Path) -> None:
    subprocess.run([sys.executable, str(CLUSTER_SCRIPT), "stop", "--dir", str(state)], capture_output=True,
                   timeout=60)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


async def redis_orders(redis_url: str, settings: Settings, drop_id: int) -> int:
    redis = await connect_redis(redis_url)
    count = int(await redis.hlen(Keys(settings.redis_prefix).drop(drop_id).orders))
    await redis.aclose()
    return count
