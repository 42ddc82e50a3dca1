"""End-to-end fixtures: a real `flashsale serve` process and Debian's headless Chromium driven by Playwright.

Everything here is synchronous on purpose: Playwright's sync API refuses to run inside a running asyncio
loop, and pytest-asyncio only runs async tests inside its session loop, so plain functions stay outside it.
With FLASHSALE_TEST_SERVICES=1 the server uses a fresh PostgreSQL database and a Redis key prefix of its
own on the machine's services (both removed after); otherwise its embedded defaults (SQLite + Valkey).
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from core.net import free_port
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, DESKTOP, WATCH_SCRIPT, Api, Server, Watch, cli
from tests.support import PG_URL, REDIS_URL, SERVICES, delete_prefix

RUN_ID = uuid.uuid4().hex[:8]



def _pg_admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
    # In a thread of its own: once Playwright's sync API is alive (package scope), this thread's loop counts
    # as running and asyncio.run() refuses; under xdist a worker may start this server after the browser.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def _wait_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + 120  # a start on a loaded 2-core machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"flashsale serve exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"flashsale serve did not become healthy in 120 s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("e2e")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_") or k.startswith("FLASHSALE_TEST")}
    env.update(FLASHSALE_PUBLIC_BASE_URL=base_url, FLASHSALE_JWT_SECRET="e2e-secret-" + "x" * 40,
               FLASHSALE_VAR_DIR=str(workdir / "var"), FLASHSALE_LOG_LEVEL="warning", PYTHONUNBUFFERED="1",
               FLASHSALE_DEMO="false",  # test_firstrun starts a server of its own for the demo store
               # Every browser of the suite comes from 127.0.0.1: the per-address limits (their own
               # tests are tests/test_login_limits.py and test_address_limits.py) must not trip here.
               FLASHSALE_LOGIN_PER_ADDRESS_PER_MINUTE="100000", FLASHSALE_REGISTER_PER_ADDRESS_PER_HOUR="100000",
               FLASHSALE_MAX_UNPAID_PER_ADDRESS="100000")
    database = f"fs_e2e_{RUN_ID}"
    prefix = f"e2e{RUN_ID}"
    if SERVICES:
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
            _pg_admin(f'CREATE DATABASE "{database}"')
        except (OSError, redis.RedisError, asyncpg.PostgresError) as exc:
            pytest.fail(f"FLASHSALE_TEST_SERVICES=1 but PostgreSQL or Redis does not answer: {exc}")
        env.update(FLASHSALE_DATABASE_URL=f"{PG_URL.rsplit('/', 1)[0]}/{database}",
                   FLASHSALE_REDIS_URL=REDIS_URL, FLASHSALE_REDIS_PREFIX=prefix)
        cli(env, "migrate")  # `serve` migrates SQLite by itself, not PostgreSQL
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"],
            cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, base_url, log)
        api = Api(base_url)
        srv = Server(base_url, env, log, api)
        operator = srv.create_user("operator")
        srv.operator = (operator, api.token(operator))
        yield srv
        api.http.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if SERVICES:
            _pg_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            delete_prefix(REDIS_URL, prefix)


# ---------- the browser ----------

# Package scope, not session: while Playwright's sync API is alive it keeps its own event loop marked as
# running in this thread, so asyncio.run() (and the async tests' fixtures) would fail after these tests.
@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect

    # Assertions wait up to 15 s, not Playwright's 5: on a loaded 2-core CI machine (three test workers,
    # their servers and browsers) a page's first API answers have taken longer than 5 s.
    expect.set_options(timeout=15_000)
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run the browser tests")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browse(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """browse(name) -> a new page in a fresh browser context (its own cookies and storage, like another
    person's phone). Every problem the pages meet fails the test at teardown."""
    watch = Watch()
    contexts: list[Any] = []

    def open_page(name: str = "visitor", viewport: dict[str, int] | None = None, locale: str = "en-GB",
                  base_url: str | None = None, bypass_csp: bool = False) -> Any:
        # bypass_csp: only for injecting axe-core (an inline script the pages' CSP rightly refuses).
        context = browser.new_context(viewport=viewport or DESKTOP, base_url=base_url or server.base_url,
                                      locale=locale, timezone_id="UTC", service_workers="block",
                                      bypass_csp=bypass_csp)
        context.set_default_timeout(10_000)
        context.expose_function("__e2eReport", lambda text: watch.problems.append(f"{name}: {text}"))
        context.add_init_script(WATCH_SCRIPT)
        context.on("console", lambda message: watch.console(name, message))
        context.on("weberror", lambda error: watch.problems.append(f"{name}: uncaught {error.error}"))
        context.on("response", lambda response: watch.response(name, response))
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert not watch.problems, "problems in the browser:\n" + "\n".join(watch.problems)


