"""Two `flashsale serve` nodes behind HAProxy (deploy/haproxy.cfg), on the session's back ends: on the
CI's third run that is PostgreSQL and a 3-primary Redis Cluster. Buyers spread over both nodes must
never get more than the stock or their per-buyer limit, and every unit sold must reach SQL."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from core.net import free_port
from core.settings import Settings
from sale.models import Order
from tests.support import create_drop, eventually, make_account, make_accounts, runtime_of
from tests.support.server import stop_process
from tests.test_drop_images import picture

pytestmark = pytest.mark.cluster  # two nodes behind HAProxy on the session's Redis: a Cluster in CI's third pass

ROOT = Path(__file__).resolve().parents[1]


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} not healthy in {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def balanced(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """Two app nodes and HAProxy in front; yields the balancer's base URL and the nodes'."""
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        pytest.fail("haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
    work = tmp_path_factory.mktemp("lb")
    nodes = [free_port(), free_port()]
    lb_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASHSALE_", "PROMETHEUS_"))}
    env.update(FLASHSALE_DATABASE_URL=settings.effective_database_url, FLASHSALE_REDIS_URL=settings.redis_url,
               FLASHSALE_REDIS_PREFIX=settings.redis_prefix, FLASHSALE_JWT_SECRET=settings.jwt_secret,
               FLASHSALE_PURCHASE_RATE_PER_SECOND="1000", FLASHSALE_TRUSTED_PROXIES="127.0.0.1",
               # Every buyer of the test comes through HAProxy from 127.0.0.1: one client address.
               FLASHSALE_MAX_UNPAID_PER_ADDRESS="1000",
               FLASHSALE_LOG_LEVEL="warning", FLASHSALE_DEMO="false", PYTHONUNBUFFERED="1")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i, port in enumerate(nodes):
            log = work / f"node{i}.log"
            node_env = {**env, "FLASHSALE_VAR_DIR": str(work / f"var{i}")}
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "1"],
                cwd=ROOT, env=node_env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True))
        for i, (port, process) in enumerate(zip(nodes, processes, strict=True)):
            wait_healthy(f"http://127.0.0.1:{port}/healthz", process, work / f"node{i}.log")
        lb_env = {**env, "FLASHSALE_LB_BIND": f"127.0.0.1:{lb_port}", "APP1": f"127.0.0.1:{nodes[0]}",
                  "APP2": f"127.0.0.1:{nodes[1]}", "FLASHSALE_LB_ERRORS": str(ROOT / "deploy" / "errors")}
        lb_log = work / "haproxy.log"
        processes.append(subprocess.Popen([haproxy, "-db", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
                                          env=lb_env, stdout=lb_log.open("wb"), stderr=subprocess.STDOUT,
                                          start_new_session=True))
        wait_healthy(f"http://127.0.0.1:{lb_port}/healthz", processes[-1], lb_log)
        time.sleep(2.5)  # both nodes pass HAProxy's health check (rise 2, inter 1 s)
        yield f"http://127.0.0.1:{lb_port}", [f"http://127.0.0.1:{port}" for port in nodes]
    finally:
        for process in reversed(processes):
            stop_process(process)


def purchases_counted(metrics: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("flashsale_purchases_total{"))


@pytest.mark.slow
async def test_sale_through_two_nodes_behind_haproxy(app: FastAPI, client: httpx.AsyncClient,
                                                     balanced: tuple[str, list[str]]) -> None:
    lb_url, node_urls = balanced
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 60)
    drop = await create_drop(client, operator, stock=50, per_user_limit=2)
    url = f"/api/drops/{drop['id']}/purchase"
    async with httpx.AsyncClient(base_url=lb_url, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as lb:
        async def attempt(i: int) -> httpx.Response:
            buyer = buyers[i % len(buyers)]
            return await lb.post(url, json={"quantity": 1}, headers=buyer.headers)

        answers = await asyncio.gather(*(attempt(i) for i in range(240)))
        statuses = Counter(r.status_code for r in answers)
        assert statuses[201] == 50, statuses
        assert set(statuses) <= {201, 409}, statuses  # sold out or limit reached, never 5xx
        assert {r.json()["code"] for r in answers if r.status_code == 409} <= {"sold_out", "limit_reached"}
        per_buyer = Counter(r.request.headers["authorization"] for r in answers if r.status_code == 201)
        assert max(per_buyer.values()) <= 2
        stats = (await lb.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
        assert (stats["remaining"], stats["reserved"]) == (0, 50)

    # Both nodes served purchases (HAProxy balanced them): each counts its own outcomes.
    async with httpx.AsyncClient(timeout=10) as direct:
        served = [purchases_counted((await direct.get(f"{node}/metrics")).text) for node in node_urls]
    assert sum(served) == 240 and min(served) > 0, served

    async def all_in_sql() -> bool:
        async with runtime_of(app).sessions() as session:
            rows = (await session.execute(select(Order).where(Order.drop_id == drop["id"]))).scalars().all()
        return len(rows) == 50

    await eventually(all_in_sql, timeout=30)
    async with runtime_of(app).sessions() as session:
        rows = (await session.execute(select(Order).where(Order.drop_id == drop["id"]))).scalars().all()
    assert sum(r.quantity for r in rows) == 50
    held = Counter(r.user_id for r in rows)
    assert max(held.values()) <= 2 and len(held) >= 25


@pytest.mark.slow
async def test_a_picture_uploaded_through_one_node_is_served_by_the_other(
        app: FastAPI, client: httpx.AsyncClient, balanced: tuple[str, list[str]]) -> None:
    """The nodes share nothing but the database and Redis (each its own var dir): a picture uploaded
    through one is served by the other and through the balancer, byte for byte, cached for good."""
    lb_url, (first, second) = balanced
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    png = picture("PNG", (1200, 900))
    async with httpx.AsyncClient(timeout=30) as http:
        uploaded = await http.post(f"{first}/api/admin/drops/{drop['id']}/images", headers=operator.headers,
                                   files={"file": ("p.png", png, "image/png")})
        assert uploaded.status_code == 201, uploaded.text

        async def second_shows_it() -> bool:  # its copy of the catalog follows within a moment
            return bool((await http.get(f"{second}/api/drops/{drop['id']}")).json()["images"])

        await eventually(second_shows_it, timeout=10)
        shown = (await http.get(f"{second}/api/drops/{drop['id']}")).json()
        assert [i["sizes"] for i in shown["images"]] == [i["sizes"] for i in uploaded.json()["images"]]
        for size in shown["images"][0]["sizes"]:
            for kind in ("jpeg", "webp"):
                path = "/" + size[kind].split("://", 1)[-1].split("/", 1)[-1].lstrip("/")
                answers = [await http.get(f"{base}{path}") for base in (first, second, lb_url)]
                assert [a.status_code for a in answers] == [200, 200, 200], path
                assert answers[0].content == answers[1].content == answers[2].content
                assert answers[1].headers["cache-control"] == "public, max-age=31536000, immutable"
