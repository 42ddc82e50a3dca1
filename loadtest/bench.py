"""`make bench`: purchase-path throughput beside a bare FastAPI endpoint making one Lua call.

Both servers run under uvicorn (uvloop, httptools) with the same worker count against the same
Redis, measured in the same run by the same generator (loadtest.httpgen). Prints attempts/s,
units sold/s, p50/p99 latency, the ratio purchase/bare, the generator's CPU share, and how long
the order sink needed to have every sold unit in SQL.

    python -m loadtest.bench [--seconds 10] [--connections 64] [--workers 1,2]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.embedded_redis import EmbeddedRedis
from core.migrate import upgrade
from core.net import free_port
from core.settings import Settings
from loadtest import httpgen
from loadtest.bench_support import (
    RedisUsage,
    admit_everyone,
    provision,
    redis_orders,
    redis_usage,
    sql_orders,
    start,
    start_cluster,
    stop,
    stop_cluster,
    wait_ready,
)

SECRET = "bench-secret-" + "b" * 40


@dataclass
class Row:
    label: str
    workers: int
    result: httpgen.Result
    gen_cpu: float
    sink_drain: float | None = None
    redis: RedisUsage | None = None
    redis_orders: int = 0

    @property
    def rate(self) -> float:
        return self.result.total / self.result.seconds

    @property
    def units(self) -> float:
        return self.result.statuses[201] / self.result.seconds


async def measure(label: str, workers: int, port: int, path: str, tokens: list[str], seconds: float,
                  connections: int) -> Row:
    requests = httpgen.build_requests("127.0.0.1", port, path, b'{"quantity":1}', tokens)
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter()
    result = await httpgen.run("127.0.0.1", port, requests, connections, seconds)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / (time.perf_counter() - wall)
    return Row(label, workers, result, cpu / (os.cpu_count() or 1))


@dataclass(frozen=True, slots=True)
class Setup:
    """What every run of one bench shares: the servers' environment, the drop and its buyers."""

    args: argparse.Namespace
    work: Path
    settings: Settings
    redis_url: str
    env: dict[str, str]
    drop_id: int
    tokens: list[str]


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="flashsale-bench-"))
    redis_server = None
    redis_url = args.redis_url
    cluster_dir = work / "cluster"
    if args.cluster:
        redis_url = start_cluster(cluster_dir)
    elif not redis_url:
        redis_server = EmbeddedRedis(work / "redis", persist=True)
        redis_url = redis_server.start()
    rows: list[Row] = []
    sold = 0
    try:
        setup, buyers = await prepare(args, work, redis_url)
        for run_index, workers in enumerate(args.workers):
            sold = await run_pair(setup, run_index, workers, rows)
    finally:
        if redis_server is not None:
            redis_server.stop()
        if args.cluster:
            stop_cluster(cluster_dir)
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args, sold, buyers)
    return 0


async def prepare(args: argparse.Namespace, work: Path, redis_url: str) -> tuple[Setup, int]:
    """The schema, the buyers and the drop (with every buyer admitted when it has a waiting room)."""
    settings = Settings(database_url=args.database_url or f"sqlite+aiosqlite:///{work / 'bench.db'}",
                        redis_url=redis_url, jwt_secret=SECRET, var_dir=work, redis_prefix=f"bench{os.getpid()}")
    await asyncio.to_thread(upgrade, settings)
    buyers = args.buyers or (60_000 if args.waiting_room else 2000)  # each admission buys once
    drop_id, tokens, user_ids = await provision(settings, buyers, args.waiting_room)
    if args.waiting_room:
        await admit_everyone(redis_url, settings, drop_id, user_ids)
    env = {**os.environ, "FLASHSALE_DATABASE_URL": settings.effective_database_url, "FLASHSALE_REDIS_URL": redis_url,
           "FLASHSALE_REDIS_PREFIX": settings.redis_prefix, "FLASHSALE_JWT_SECRET": SECRET,
           "FLASHSALE_VAR_DIR": str(work), "FLASHSALE_PURCHASE_RATE_PER_SECOND": "1000000",
           # Every buyer of the benchmark comes from one loopback address.
           "FLASHSALE_MAX_UNPAID_PER_ADDRESS": "1000000000",
           "FLASHSALE_LOG_LEVEL": "warning", "BENCH_REDIS_URL": redis_url,
           "FLASHSALE_REDIS_WAIT_REPLICAS": str(args.wait_replicas)}
    return Setup(args, work, settings, redis_url, env, drop_id, tokens), buyers


async def run_pair(setup: Setup, run_index: int, workers: int, rows: list[Row]) -> int:
    """The bare endpoint, then the purchase path, with `workers` workers each; the orders in SQL after."""
    args, work, env = setup.args, setup.work, setup.env
    bare_port, app_port = free_port(), free_port()
    bare = start([sys.executable, "-m", "uvicorn", "loadtest.bare_app:create_app", "--factory",
                  "--port", str(bare_port), "--workers", str(workers), "--loop", "uvloop", "--http",
                  "httptools", "--no-access-log", "--log-level", "warning"], env, work / "bare.log")
    app_env = {**env, "FLASHSALE_RUN_BACKGROUND": "false"} if args.separate_sink else env
    app = start([sys.executable, "-m", "app.cli", "serve", "--port", str(app_port), "--workers",
                 str(workers)], app_env, work / "app.log")
    # The deployment that separates them: web workers answer, one `flashsale worker` writes SQL.
    sink = start([sys.executable, "-m", "app.cli", "worker"], env, work / "worker.log") \
        if args.separate_sink else None
    try:
        await wait_ready(f"http://127.0.0.1:{bare_port}/docs", bare)
        await wait_ready(f"http://127.0.0.1:{app_port}/healthz", app)
        await asyncio.sleep(1.0)
        rows.append(await measure("bare FastAPI + 1 Lua call", workers, bare_port, "/bare", [],
                                  args.seconds, args.connections))
        await asyncio.sleep(0.5)
        label = "purchase (sink apart)" if args.separate_sink else "purchase path"
        label += " + room" if args.waiting_room else ""
        # With a waiting room an admission buys once: each run gets buyers of its own.
        mine = setup.tokens[run_index::len(args.workers)] if args.waiting_room else setup.tokens
        usage_before = await redis_usage(setup.redis_url)
        orders_before = await redis_orders(setup.redis_url, setup.settings, setup.drop_id)
        row = await measure(label, workers, app_port, f"/api/drops/{setup.drop_id}/purchase",
                            mine, args.seconds, args.connections)
        rows.append(row)
        # Units bought during warm-up count too: wait until SQL has every order Redis took.
        target = await redis_orders(setup.redis_url, setup.settings, setup.drop_id)
        started = time.perf_counter()
        while time.perf_counter() - started < 60:
            if await sql_orders(setup.settings, setup.drop_id) >= target:
                break
            await asyncio.sleep(0.05)
        row.sink_drain = time.perf_counter() - started
        # Redis work of the run and of the sink draining it, per unit sold in the run.
        row.redis = (await redis_usage(setup.redis_url)).minus(usage_before)
        row.redis_orders = target - orders_before  # warm-up purchases included, as in the usage
        return target
    finally:
        stop(bare)
        stop(app)
        if sink is not None:
            stop(sink)


def report(rows: list[Row], args: argparse.Namespace, sold: int, buyers: int) -> None:
    where = "a 3-primary Redis Cluster" if args.cluster else (args.redis_url or "one embedded Valkey")
    if args.wait_replicas:
        where += f", WAIT {args.wait_replicas} replica(s) after each purchase call"
    print(f"\nflashsale bench on {where}: {args.seconds:.0f} s per run, {args.connections} connections, "
          f"{buyers} buyers, {os.cpu_count()} cores shared by server and generator\n")
    print(f"{'endpoint':<28}{'workers':>8}{'req/s':>10}{'units/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'non-2xx':>9}{'gen CPU':>9}{'SQL drain s':>13}")
    for row in rows:
        r = row.result
        bad = sum(c for s, c in r.statuses.items() if s >= 300)
        drain = f"{row.sink_drain:.2f}" if row.sink_drain is not None else "-"
        units = f"{row.units:.0f}" if row.label.startswith("purchase") else "-"
        print(f"{row.label:<28}{row.workers:>8}{row.rate:>10.0f}{units:>10}{r.percentile(0.5) * 1000:>9.2f}"
              f"{r.percentile(0.99) * 1000:>9.2f}{bad:>9}{row.gen_cpu:>9.0%}{drain:>13}")
    for workers in sorted({row.workers for row in rows}):
        pair = [row for row in rows if row.workers == workers]
        if len(pair) == 2:
            print(f"ratio purchase/bare with {workers} worker(s): {pair[1].rate / pair[0].rate:.2f}")
    print(f"orders in SQL after the runs: {sold}")
    for row in rows:
        if row.redis is None or not row.redis_orders:
            continue
        made = row.redis_orders
        top = sorted(row.redis.calls.items(), key=lambda item: -item[1])[:12]
        print(f"Redis per purchase, {row.workers} worker(s) (run + sink drain, {made} units): "
              f"{row.redis.cpu_seconds / made * 1e6:.1f} us CPU, "
              f"{sum(row.redis.calls.values()) / made:.2f} commands "
              f"({', '.join(f'{name} {count / made:.2f}' for name, count in top)})")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--buyers", type=int, default=0,
                        help="default 2,000; 60,000 with --waiting-room (an admission buys once)")
    parser.add_argument("--waiting-room", action="store_true",
                        help="the drop has a waiting room: every purchase is checked against (and uses up) an "
                             "admission in the purchase script")
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    parser.add_argument("--separate-sink", action="store_true",
                        help="web workers without the order sink/sweeper, plus one `flashsale worker` process")
    parser.add_argument("--redis-url", default="", help="default: an embedded server started for the run")
    parser.add_argument("--wait-replicas", type=int, default=0,
                        help="FLASHSALE_REDIS_WAIT_REPLICAS for the servers (WAIT after each purchase call)")
    parser.add_argument("--cluster", action="store_true",
                        help="run against a 3-primary, 3-replica Redis Cluster started for the run (AOF on)")
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a temp dir")
    return parser.parse_args(argv)


def run() -> None:
    import uvloop

    sys.exit(uvloop.run(main(parse())))


if __name__ == "__main__":
    run()
