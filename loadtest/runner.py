"""`flashsale loadtest`: a server (ours unless --host), provisioning, Locust headless, checks, report."""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import httpx

from core.net import free_port
from core.settings import Settings
from loadtest.fairness import RoundPlan, fairness
from loadtest.fairness_report import as_json as fairness_json
from loadtest.fairness_report import render as render_fairness
from loadtest.monitor import CpuMeter, StatsWatch, render_costs, start_profiles, tree
from loadtest.payments_check import drain_notices, provider_base, provider_checks, stand_ins
from loadtest.plan import PLAN_ENV, Account, Plan, buyer_users_for, buyers_needed, variant_fields, variant_stocks
from loadtest.provision import DropSpec, Say, create_drop, epoch, login, register_accounts, seed_accounts
from loadtest.report import figures, latency_check, rate_check, read_locust_stats, render, write_summary
from loadtest.server import LocalServer
from loadtest.stand_ins import StandInProcess
from loadtest.tally import Tally
from loadtest.verify import database_reachable, traffic_checks, verify

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


# For the bots-against-humans runs on a server started here: one generator process solves every
# human's challenge on this machine's cores (people would use their own devices), so the proof of work
# is made light; bots and humans face the same cost, and the shuffle is what is measured.
CHEAP_CHALLENGES = {"FLASHSALE_QUEUE_CHALLENGE_MIN_NUMBER": "5000",
                    "FLASHSALE_QUEUE_CHALLENGE_NUMBER_PER_JOIN": "100"}


class UsageError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """Where a run goes: the server, its operator, its database when reachable, and where files go."""

    run_id: str
    host: str
    operator: tuple[str, str]  # email, password
    db_settings: Settings | None
    work: Path
    report_dir: Path


@dataclass
class Options:
    host: str | None = None
    operator_email: str | None = None
    operator_password: str | None = field(default=None, repr=False)
    stock: int = 5000
    units_per_second: float = 200.0
    duration: float = 30.0
    buyers: int = 0                 # 0: enough to sell the whole stock without reusing one
    per_user_limit: int = 1
    pay_window: int = 15            # short, so walked-away units come back during the run
    lead: float = 5.0               # seconds from the drop's creation to its open
    fcode_holders: int = 0
    priority_minutes: int = 1
    friends: int = 0
    browsers: int = 10
    cancel_ratio: float = 0.05
    leave_ratio: float = 0.05
    processes: int = 1
    server_workers: int = 2
    accounts: str = "auto"          # auto: seed for our own server, api for --host
    report_dir: Path = Path("var/loadtest")
    tolerance: float = 0.9
    max_p99_ms: float = 0.0
    database_url: str | None = None
    sink_wait: float = 15.0
    profile: bool = False
    bots: int = 0                   # > 0: bots against humans, without and with the waiting room
    admit_per_second: int = 50
    rounds: int = 1                 # --bots: pairs of drops (without, with the room) with the same crowd
    provider: str = "test"          # stripe | alipay: pay through the local stand-ins (fakes/)
    max_notice_p99_ms: float = 50.0
    variants: int = 0               # > 0: the drop sells that many variants, the stock split across them
    draw: bool = False              # a draw drop: enter, draw, recompute, buy as winners and backups


def run(options: Options, say: Say = print) -> int:
    return asyncio.run(_run(options, say))


async def _run(o: Options, say: Say) -> int:
    run_id = uuid.uuid4().hex[:8]
    report_dir = o.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flashsale-loadtest-") as tmp:
        work = Path(tmp)
        server: LocalServer | None = None
        fakes: StandInProcess | None = None
        try:
            if o.provider not in ("test", "stripe", "alipay"):
                raise UsageError("--provider is test, stripe or alipay")
            if o.provider != "test" and o.host is not None:
                raise UsageError("--provider stripe|alipay pays through local stand-ins: the server started here")
            if o.stock < o.variants:
                raise UsageError("--variants needs at least one unit of --stock per variant")
            env = dict(CHEAP_CHALLENGES if o.bots else {})
            if o.host is None:
                server = LocalServer(work / "server", workers=o.server_workers)
            if o.provider != "test" and server is not None:
                fakes = stand_ins(work, f"{server.url}/api/payments/stripe/webhook")
                endpoints = await asyncio.to_thread(fakes.start)
                env.update(endpoints.service_env())
                say(f"payment stand-ins (flashsale dev payments): Stripe {endpoints.stripe_api_base}, "
                    f"Alipay {endpoints.alipay_gateway}")
            if server is not None:
                server.extra_env.update(env)
                say(f"starting flashsale serve --workers {o.server_workers} on the embedded defaults "
                    f"in {server.workdir}")
                host = await asyncio.to_thread(server.start)
                email, password = f"lt-{run_id}-operator@example.com", secrets.token_urlsafe(18)
                await asyncio.to_thread(server.create_user, email, password, "operator")
                db_settings: Settings | None = server.settings
            else:
                assert o.host is not None
                if not (o.operator_email and o.operator_password):
                    raise UsageError("--host needs --operator-email and --operator-password "
                                     "(or FLASHSALE_LOADTEST_OPERATOR_PASSWORD)")
                host, email, password = o.host.rstrip("/"), o.operator_email, o.operator_password
                db_settings = external_settings(o.database_url)
            target = Target(run_id, host, (email, password), db_settings, work, report_dir)
            if o.bots:
                return await _fairness(o, say, target)
            if o.draw:
                return await _draw(o, say, target)
            return await _rehearse(o, say, target, server, fakes)
        finally:
            if server is not None:
                await asyncio.to_thread(server.stop)
            if fakes is not None:
                await asyncio.to_thread(fakes.stop)


def external_settings(database_url: str | None) -> Settings | None:
    """The database of a server we did not start: FLASHSALE_DATABASE_URL (or --database-url) from here."""
    try:
        settings = Settings()
    except ValueError:
        return None
    return settings.model_copy(update={"database_url": database_url}) if database_url else settings


async def _accounts(o: Options, say: Say, client: httpx.AsyncClient, token: str, run_id: str,
                    seed_into: Settings | None) -> tuple[str, list[Account], list[Account]]:
    """`seed_into`: the server's settings (database, JWT secret) when known: ours, or --host's from this
    shell's FLASHSALE_* environment."""
    mode = o.accounts if o.accounts != "auto" else ("seed" if o.host is None else "api")
    if mode not in ("seed", "api"):
        raise UsageError("--accounts is auto, api or seed")
    if mode == "seed" and (seed_into is None or not database_reachable(seed_into)):
        raise UsageError("--accounts seed needs the server's database and JWT secret (FLASHSALE_* here)")
    count = o.buyers or buyers_needed(o.stock, o.per_user_limit, o.cancel_ratio, o.leave_ratio)
    started = time.monotonic()
    if mode == "seed" and seed_into is not None:
        buyers = await seed_accounts(seed_into, count, "shopper", run_id)
        employees = await seed_accounts(seed_into, o.fcode_holders, "employee", run_id)
        probe = await client.get("/api/me", headers={"Authorization": f"Bearer {buyers[0].token}"})
        if probe.status_code != 200:
            raise UsageError(f"a seeded buyer's token answers {probe.status_code} on /api/me: is "
                             "FLASHSALE_JWT_SECRET here the server's?")
    else:
        say(f"registering {count} buyers and {o.fcode_holders} employees through the API "
            "(each costs the server an Argon2 hash and a verification)")
        buyers = await register_accounts(client, count, "shopper", token, run_id, say=say)
        employees = await register_accounts(client, o.fcode_holders, "employee", token, run_id, say=say)
    say(f"{len(buyers)} buyers and {len(employees)} employees ready with tokens in "
        f"{time.monotonic() - started:.1f} s ({mode})")
    return mode, buyers, employees


def locust_command(plan: Plan, host: str, run_seconds: int, report_dir: Path, processes: int) -> list[str]:
    users = plan.user_counts()
    total = sum(users.values())
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
               "-u", str(total), "-r", str(max(total, 1)), "-t", f"{run_seconds}s",
               "--csv", str(report_dir / "locust"), "--csv-full-history", "--html", str(report_dir / "locust.html"),
               "--only-summary", "--stop-timeout", "5", "--exit-code-on-error", "0",
               "--loglevel", "WARNING"]
    if processes > 1:
        # A port of its own for master and workers: two rehearsals on one machine (Locust's default
        # 5557 for both) would otherwise swap workers, and with them buyers and tokens.
        port = str(free_port())
        command += ["--processes", str(processes), "--master-bind-port", port, "--master-port", port]
    return [*command, *users]


async def _rehearse(o: Options, say: Say, target: Target, server: LocalServer | None,
                    fakes: StandInProcess | None = None) -> int:
    run_id, host, db_settings, work, report_dir = (target.run_id, target.host, target.db_settings, target.work,
                                                   target.report_dir)
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=host, timeout=30, limits=limits) as client:
        token = await login(client, *target.operator)
        mode, buyers, employees = await _accounts(o, say, client, token, run_id, db_settings)
        priority = o.priority_minutes if o.fcode_holders else 0
        opens = time.time() + o.lead + priority * 60
        stocks = variant_stocks(run_id, o.stock, o.variants)
        drop = await create_drop(client, token, DropSpec(run_id=run_id, stock=o.stock, per_user_limit=o.per_user_limit,
                                                         starts_at=opens, priority_minutes=priority,
                                                         pay_window_seconds=o.pay_window, duration=o.duration,
                                                         extra=variant_fields(stocks)))
        drop_id, starts_at = int(drop["id"]), epoch(drop["starts_at"])
        tally_path = work / "tally.json"
        plan = Plan(host=host, drop_id=drop_id, stock=o.stock, per_user_limit=o.per_user_limit,
                    starts_at=starts_at, priority_starts_at=epoch(drop["priority_starts_at"]),
                    units_per_second=o.units_per_second,
                    buyer_users=buyer_users_for(o.units_per_second), browser_users=o.browsers,
                    fcode_users=min(o.fcode_holders, 10), friend_users=o.friends, cancel_ratio=o.cancel_ratio,
                    leave_ratio=o.leave_ratio, partitions=max(1, o.processes), tally_path=str(tally_path),
                    buyers=buyers, employees=employees, provider=o.provider,
                    provider_base=provider_base(o.provider, fakes),
                    stripe_publishable_key=fakes.keys.stripe_publishable_key if fakes else "",
                    variants=list(stocks))
        plan_path = work / "plan.json"
        plan.dump(plan_path)
        run_seconds = max(1, math.ceil(starts_at + o.duration - time.time()))
        spread = f" in {o.processes} processes" if o.processes > 1 else ""
        split = f" in {len(stocks)} variants {list(stocks.values())}" if stocks else ""
        say(f"drop {drop_id}: {o.stock} units{split}, opens in {starts_at - time.time():.1f} s; Locust: "
            f"{plan.user_counts()} for {run_seconds} s{spread}")
        watch = StatsWatch(client, token, drop_id, o.stock, stocks)
        locust_exit, meter, profiles = await _run_locust(o, plan, plan_path, host, run_seconds, report_dir,
                                                         server, watch)
        if not tally_path.exists():
            log = (report_dir / "locust.log").read_text(errors="replace")[-3000:]
            say(f"Locust wrote no tally (exit {locust_exit}); its log ends with:\n{log}")
            return 2
        tally = Tally.from_dict(json.loads(tally_path.read_text()))
        locust_rows = read_locust_stats(report_dir / "locust_stats.csv")
        drained = await drain_notices(o.provider, fakes.endpoints) if fakes and fakes.endpoints else None
        stats, checks = await verify(client, token, drop_id, stock=o.stock, per_user_limit=o.per_user_limit,
                                     tally=tally, settings=db_settings, sink_wait=o.sink_wait, variants=stocks)
        if fakes is not None and fakes.endpoints is not None and drained is not None:
            checks += await provider_checks(o.provider, fakes.endpoints, db_settings, drop_id, o.max_notice_p99_ms,
                                            drained)
    result = figures(tally, locust_rows, stats, starts_at=starts_at, purchase_end=starts_at + o.duration,
                     target=o.units_per_second)
    result.cpu = meter.share()
    result.checks = [watch.check(), *checks, *traffic_checks(tally, result.locust_failures)]
    if o.tolerance > 0:
        result.checks.append(rate_check(result, o.tolerance))
    if o.max_p99_ms > 0:
        result.checks.append(latency_check(result, o.max_p99_ms))
    say(render(result, drop_id, report_dir))
    if profiles:
        say(await asyncio.to_thread(render_costs, profiles))
    options = {k: str(v) for k, v in asdict(o).items() if k != "operator_password"}
    write_summary(result, report_dir / "summary.json",
                  {"host": host, "drop_id": drop_id, "accounts": mode, "locust_exit": locust_exit,
                   "options": options, "share_links_seen": tally.share_links,
                   "answers_by_request": tally.by_name()})
    return 0 if result.passed else 1


async def _draw(o: Options, say: Say, target: Target) -> int:
    """--draw: N accounts enter a draw through the API; see loadtest/draw_rehearsal.py."""
    from loadtest.draw_rehearsal import DrawPlan, rehearse_draw

    async with httpx.AsyncClient(base_url=target.host, timeout=30) as client:
        token = await login(client, *target.operator)
        crowd = replace(o, buyers=o.buyers or 1000, fcode_holders=0)
        _, accounts, _ = await _accounts(crowd, say, client, token, target.run_id, target.db_settings)
    plan = DrawPlan(stock=o.stock, backups=o.stock, pay_window=o.pay_window, lead=max(o.lead, 5.0),
                    leave_ratio=o.leave_ratio, run_id=target.run_id)
    return await rehearse_draw(target.host, token, accounts, plan, say)


async def _fairness(o: Options, say: Say, target: Target) -> int:
    humans, report_dir = o.buyers or 500, target.report_dir
    async with httpx.AsyncClient(base_url=target.host, timeout=30) as client:
        token = await login(client, *target.operator)
        crowd = replace(o, buyers=humans + o.bots, fcode_holders=0)
        _, accounts, _ = await _accounts(crowd, say, client, token, target.run_id, target.db_settings)
    lead = max(o.lead, 60.0)  # the pre-queue window the humans arrive over
    say(f"bots against humans: {o.bots} bots, {humans} humans, {o.stock} units per drop, "
        f"waiting room admitting {o.admit_per_second}/s")
    results = await fairness(target.host, token, target.run_id, accounts[o.bots:], accounts[:o.bots],
                             plan=RoundPlan(stock=o.stock, lead=lead, admit_per_second=o.admit_per_second),
                             rounds=o.rounds, say=say)
    say(render_fairness(results))
    (report_dir / "fairness.json").write_text(json.dumps(fairness_json(results), indent=2))
    say(f"written: {report_dir / 'fairness.json'}")
    return 0


async def _run_locust(o: Options, plan: Plan, plan_path: Path, host: str, run_seconds: int, report_dir: Path,
                      server: LocalServer | None, watch: StatsWatch) -> tuple[int, CpuMeter, list[Path]]:
    env = {**os.environ, PLAN_ENV: str(plan_path)}
    command = locust_command(plan, host, run_seconds, report_dir, o.processes)
    with (report_dir / "locust.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log,
                                                       stdin=asyncio.subprocess.DEVNULL,
                                                       start_new_session=True)
    meter = CpuMeter(generator=lambda: tree(process.pid), server=server.processes if server else list)

    profiles: list[tuple[subprocess.Popen[bytes], Path]] = []

    async def measure() -> None:
        # CPU is measured (and profiled) over the purchase window, not Locust's start-up and polling.
        await asyncio.sleep(max(0.0, plan.starts_at - time.time()))
        meter.start()
        if o.profile and server is not None:
            profiles.extend(start_profiles(server.worker_pids(), o.duration, report_dir))
        while True:
            await asyncio.sleep(0.5)
            meter.sample()

    tasks = [asyncio.create_task(watch.run()), asyncio.create_task(measure())]
    try:
        exit_code = await asyncio.wait_for(process.wait(), timeout=run_seconds + 120)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        exit_code = await process.wait()
    finally:
        meter.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    for profile, _ in profiles:
        await asyncio.to_thread(profile.wait)
    return exit_code, meter, [path for _, path in profiles]
