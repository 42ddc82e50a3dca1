"""Operations: /healthz (also with Redis gone), /metrics, production settings, and the README's run
command serving for real."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from app.main import create_app
from core.embedded_redis import EmbeddedRedis
from core.net import free_port
from core.settings import Settings
from tests.support import is_problem, make_account, runtime_of


def fresh_app(settings: Settings, **overrides: Any) -> FastAPI:
    """Another app instance on the session's back ends, without background loops, settings changed."""
    return create_app(settings.model_copy(update={"run_background": False, **overrides}))


@asynccontextmanager
async def serving(application: FastAPI, *,
                  raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Runs the app's lifespan and yields a client over ASGI."""
    transport = httpx.ASGITransport(app=application, raise_app_exceptions=raise_app_exceptions)
    async with application.router.lifespan_context(application), httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


async def test_healthz_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_healthz_503_and_problem_503_when_redis_goes_away(settings: Settings, tmp_path: Path) -> None:
    # Started against a Redis that then stops: start-up itself needs Redis (it loads the Lua scripts).
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    url = server.start()
    try:
        async with serving(fresh_app(settings, redis_url=url)) as client:
            assert (await client.get("/healthz")).status_code == 200
            server.stop()
            started = time.monotonic()
            down = await client.get("/healthz")
            assert time.monotonic() - started < 5
            assert down.status_code == 503
            assert down.json() == {"status": "unavailable", "database": "ok", "redis": "down"}
            # A request that needs Redis gets a retryable 503 problem, never a 500.
            login = await client.post("/api/auth/token",
                                      data={"username": "a@example.com", "password": "x" * 8})
            assert is_problem(login, 503, "service_unavailable"), login.text
            assert login.headers["retry-after"] == "1"
    finally:
        server.stop()


def metric_value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_count_requests_by_route_template(app: FastAPI, client: httpx.AsyncClient,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime_of(app).settings, "metrics_max_age_seconds", 0)  # every scrape fresh
    operator = await make_account(app, "operator")
    shopper = await make_account(app)
    route = "/api/admin/users/{user_id}"
    before = (await client.get("/metrics")).text
    for _ in range(3):
        response = await client.patch(f"/api/admin/users/{shopper.id}", json={"role": "shopper"},
                                      headers=operator.headers)
        assert response.status_code == 200
    await client.get("/api/me")  # 401
    await client.get(f"/no/such/page/{shopper.id}")
    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    after = scraped.text
    total = "flashsale_http_requests_total"
    assert metric_value(after, total, method="PATCH", route=route, status="200") == \
        metric_value(before, total, method="PATCH", route=route, status="200") + 3
    assert metric_value(after, total, method="GET", route="/api/me", status="401") >= 1
    assert metric_value(after, total, method="GET", route="unmatched", status="404") >= 1
    assert metric_value(after, "flashsale_http_request_seconds_count", method="PATCH", route=route) >= 3
    assert f"/api/admin/users/{shopper.id}" not in after  # templates, not raw paths: bounded label sets


def test_production_refuses_a_missing_or_short_secret(tmp_path: Path) -> None:
    for secret in ("", "short-secret"):
        with pytest.raises(ValidationError, match="JWT_SECRET"):
            Settings(env="production", jwt_secret=secret, secret_key="k" * 40, var_dir=tmp_path)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(env="production", jwt_secret="p" * 40, var_dir=tmp_path)  # F-codes need a lasting key
    assert Settings(env="production", jwt_secret="p" * 40, secret_key="k" * 40, var_dir=tmp_path).env == "production"
    assert not (tmp_path / "secrets").exists()  # production never makes one up


def clean_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSALE_", "PROMETHEUS_"))}
    env.update(extra)
    return env


def flashsale_command() -> str:
    return str(Path(sys.executable).parent / "flashsale")


def test_production_cli_refuses_the_default_secret(tmp_path: Path) -> None:
    done = subprocess.run([flashsale_command(), "migrate"], cwd=tmp_path, capture_output=True, text=True,
                          env=clean_environment(tmp_path, FLASHSALE_ENV="production"), timeout=60)
    assert done.returncode != 0
    assert "FLASHSALE_JWT_SECRET" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "var").exists()



@pytest.mark.slow
@pytest.mark.neutral  # a fresh directory, the embedded defaults: the same in every pass
def test_readme_run_command_serves_and_stops_cleanly(tmp_path: Path) -> None:
    """What `make run` ends in: `flashsale serve` on the embedded defaults, in a fresh directory."""
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    process = subprocess.Popen([flashsale_command(), "serve", "--port", str(port)], cwd=tmp_path,
                               env=clean_environment(tmp_path), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        log.seek(0)
        output = log.read()
        assert health is not None and health.status_code == 200, output
        assert health.json()["status"] == "ok"
        docs = httpx.get(f"{base}/docs", timeout=5)
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        assert is_problem(httpx.get(f"{base}/api/me", timeout=5), 401, "unauthorized")
        assert (tmp_path / "var" / "flashsale.db").exists()  # migrated the default SQLite database
        embedded = re.search(r"embedded Redis on (redis://\S+)", output)
        assert embedded, output
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
    # The first run seeds the demo's accounts: the log names no SQL, no parameters, no password hash.
    everything = (tmp_path / "serve.log").read_text()
    assert "Demo store seeded" in everything
    for leak in ("INSERT INTO", "SELECT ", "$argon2", "sqlalchemy.engine", "mail.log"):
        assert leak not in everything, f"{leak!r} in the log of `flashsale serve`"
    with pytest.raises(redis.ConnectionError):  # the embedded server stopped with it
        redis.Redis.from_url(embedded.group(1), socket_connect_timeout=1).ping()
