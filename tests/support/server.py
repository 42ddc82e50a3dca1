"""A real `flashsale serve` process on the suite's back ends, for tests that kill or stop it."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from core.settings import Settings


def start_server(settings: Settings, port: int, var_dir: Path, *, workers: int = 1,
                 **env: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "FLASHSALE_DATABASE_URL": settings.effective_database_url,
                   "FLASHSALE_REDIS_URL": settings.redis_url, "FLASHSALE_REDIS_PREFIX": settings.redis_prefix,
                   "FLASHSALE_JWT_SECRET": settings.jwt_secret, "FLASHSALE_VAR_DIR": str(var_dir),
                   "FLASHSALE_SINK_CLAIM_IDLE_MS": "500", "FLASHSALE_PURCHASE_RATE_PER_SECOND": "1000",
                   "FLASHSALE_LOG_LEVEL": "warning", "FLASHSALE_SECRET_KEY": settings.secret_key,
                   # All its buyers come from 127.0.0.1, like the in-process suite's (tests/conftest.py).
                   "FLASHSALE_MAX_UNPAID_PER_ADDRESS": str(settings.max_unpaid_per_address),
                   "FLASHSALE_LOGIN_PER_ADDRESS_PER_MINUTE": str(settings.login_per_address_per_minute),
                   "FLASHSALE_REGISTER_PER_ADDRESS_PER_HOUR": str(settings.register_per_address_per_hour),
                   "FLASHSALE_RUSH_SECONDS": str(settings.rush_seconds), **env}
    log = open(var_dir / f"server-{port}.log", "ab")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env=environment, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(900):  # 90 s: a start on a loaded 2-core machine (three workers' servers at once)
            assert proc.poll() is None, "server exited"
            try:
                if (await c.get(url + "/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("server did not become healthy")


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the process group (a server and its workers), SIGKILL if it does not end in time."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
