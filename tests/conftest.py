"""Real servers for every test: the embedded Valkey and SQLite by default; with
FLASHSALE_TEST_SERVICES=1, the machine's PostgreSQL and Redis (a test run fails, never skips, when
they do not answer). Each run gets its own database and Redis key prefix and removes them after; under
pytest-xdist each worker is a run of its own (its own embedded Valkey, SQLite file, PostgreSQL database
and prefix). On a single Redis every command is also checked for Cluster slot discipline
(tests/support/slots.py), which is why CI's cluster pass runs only the tests marked `cluster`."""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from app.main import create_app
from core.embedded_redis import EmbeddedRedis
from core.loops import cancel_all
from core.migrate import upgrade
from core.settings import Settings
from tests.support import PG_URL, REDIS_URL, SERVICES, delete_prefix, sync_redis
from tests.support.clock import manual, manual_settings  # noqa: F401  (fixtures: an app on a ManualClock)
from tests.support.fakes import payment_fakes  # noqa: F401  (fixture: the fake Stripe and Alipay, per worker)
from tests.support.payments import paying, payment_keys  # noqa: F401  (the fixtures: keys, the app with the stand-ins)
from tests.support.slots import KeyTable, slot_checked

# Unique per process, so per xdist worker too; the worker's name (gw0, gw1...) makes leftovers readable.
RUN_ID = uuid.uuid4().hex[:10] + os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture(scope="session", autouse=True)
async def _no_task_outlives_the_session() -> AsyncIterator[None]:
    """Set up first, so torn down last: a task still running when the session's event loop closes is
    named and cancelled until it ends (the loop's own close cancels once and waits for ever)."""
    yield
    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    if left:
        print(f"\ntasks left running at the end of the session: {sorted(t.get_name() for t in left)}")
        await cancel_all(left)


def pytest_report_header() -> str:
    return f"flashsale back ends: {'PostgreSQL + Redis services' if SERVICES else 'SQLite + embedded Valkey'}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if SERVICES:
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            pytest.fail(f"FLASHSALE_TEST_SERVICES=1 but Redis at {REDIS_URL} does not answer: {exc}")
        yield REDIS_URL
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), persist=False)
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def slot_violations(redis_url: str) -> Iterator[list[str] | None]:
    """Cross-slot commands seen since the last test's check (None on a Cluster: the server refuses them)."""
    client = sync_redis(redis_url)
    on_cluster = isinstance(client, redis.RedisCluster)
    client.close()
    if on_cluster:
        yield None
        return
    seen: list[str] = []
    with slot_checked(KeyTable.from_server(redis_url), seen.append):
        yield seen


@pytest.fixture(autouse=True)
def _cluster_slot_discipline(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which the process sent a command naming keys of two slots (tests that use
    no Redis skip the check rather than start one)."""
    if "redis_url" not in request.fixturenames:
        yield
        return
    seen: list[str] | None = request.getfixturevalue("slot_violations")
    yield
    if seen:
        found, seen[:] = list(seen), []
        pytest.fail("commands a Redis Cluster refuses (CROSSSLOT), keys of several slots:\n" + "\n".join(found[:20]))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not SERVICES:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    name = f"fs_test_{RUN_ID}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"FLASHSALE_TEST_SERVICES=1 but PostgreSQL at {PG_URL} does not answer: {exc}")
    base = PG_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def make_settings(database_url: str, redis_url: str, var_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url, "redis_url": redis_url, "redis_prefix": f"t{RUN_ID}",
        "var_dir": var_dir, "jwt_secret": "test-secret-" + "x" * 40, "public_base_url": "http://testserver",
        "sweep_interval_seconds": 0.1, "purchase_rate_per_second": 1000, "log_level": "warning",
        # Every test's requests come from one ASGI address: the per-address limits' own tests lower
        # these (tests/test_login_limits.py), the rest of the suite must not trip them.
        "register_per_address_per_hour": 1_000_000, "login_per_address_per_minute": 1_000_000,
        "max_unpaid_per_address": 1_000_000, "draw_entries_per_address": 1_000_000,
        # Each app a test starts would freeze the whole test process's heap after a full collection.
        "settle_heap": False,
        # Receipts would wait a minute after each drop a test opens: tests/test_messages.py's rush
        # test turns the rush on for itself.
        "rush_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str, slot_violations: list[str] | None,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    # slot_violations: the check is in place before the app sends its first command.
    settings = make_settings(database_url, redis_url, tmp_path_factory.mktemp("var"))
    upgrade(settings)
    yield settings
    delete_prefix(redis_url, settings.redis_prefix)


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as c:
        yield c


DURATIONS = "flashsale/durations"  # seconds per test of earlier runs, in .pytest_cache
# The same, committed (refresh after a full run: python scripts/durations.py).
COMMITTED_DURATIONS = Path(__file__).parent / "durations.json"
_measured: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests start a server and Chromium: slow, like the server-process tests marked by hand.
    Under xdist (--dist loadgroup) tests go to workers one by one, except a module whose tests share a
    module- or package-scoped fixture (a server, a browser, a faulty service): it stays on one worker,
    so that fixture starts once. Workers are dealt the longest work first (by earlier runs' times), so a
    long test does not start last and keep one worker busy after the others are done."""
    groups: dict[str, str] = {}
    for item in items:
        if item.path.parent.name == "e2e":
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)
        # CI's services pass leaves out the tests marked `neutral`: one that reaches a back end is not.
        uses = set(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("neutral") and {"database_url", "redis_url"} & uses:
            raise pytest.UsageError(f"{item.nodeid} is marked neutral but uses the pass's database or Redis")
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else []
        groups[item.nodeid] = item.nodeid
        if any(d.scope in ("module", "package", "class") for defs in definitions for d in defs):
            groups[item.nodeid] = item.nodeid.split("::", 1)[0]
            item.add_marker(pytest.mark.xdist_group(groups[item.nodeid]))
    cache = getattr(config, "cache", None)  # None with -p no:cacheprovider
    # A clean clone (CI) has no cache: the committed times of an earlier full run order it instead.
    known: dict[str, float] = {**json.loads(COMMITTED_DURATIONS.read_text()),
                               **(cache.get(DURATIONS, {}) if cache is not None else {})}
    if known and "PYTEST_XDIST_WORKER" in os.environ:  # every worker reads the same file: same order
        weight: dict[str, float] = {}
        for item in items:
            weight[groups[item.nodeid]] = weight.get(groups[item.nodeid], 0.0) + known.get(item.nodeid, 0.0)
        items.sort(key=lambda item: -weight[groups[item.nodeid]])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _measured[report.nodeid] = _measured.get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a run without xdist) keeps each test's seconds for the next run's order."""
    config = session.config
    cache = getattr(config, "cache", None)
    if cache is not None and _measured and not hasattr(config, "workerinput"):
        cache.set(DURATIONS, {**cache.get(DURATIONS, {}), **_measured})
