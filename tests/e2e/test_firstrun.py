"""A newcomer's first run: `flashsale serve` on the embedded defaults with an empty database seeds the demo
store, prints the accounts once, and within a minute the storefront shows four pictured drops (one in
F-code early access right now); the
printed operator account opens the dashboard. A second start seeds nothing more.

This server always runs on the embedded defaults (SQLite + embedded Valkey), whatever the test back end:
that is the only place a demo store is made."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from core.net import free_port
from tests.e2e.conftest import _wait_healthy

# `flashsale serve` in a fresh directory: the embedded defaults, whatever the pass.
pytestmark = pytest.mark.neutral

ACCOUNT = re.compile(r"^\s+(shopper|employee|operator)\s+(\S+@\S+)\s+(\S+)\s*$", re.M)


@dataclass
class FirstRun:
    base_url: str
    workdir: Path
    output: str
    accounts: dict[str, tuple[str, str]]
    started: float


def _serve(workdir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASHSALE_")}
    env.update(PYTHONUNBUFFERED="1", FLASHSALE_LOG_LEVEL="warning")
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
                                cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FirstRun]:
    workdir = tmp_path_factory.mktemp("firstrun")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("firstrun-log") / "console.txt"  # outside the store's directory
    started = time.monotonic()
    process = _serve(workdir, port, log)
    try:
        _wait_healthy(process, base_url, log)
        output = log.read_text()
        accounts = {role: (email, password) for role, email, password in ACCOUNT.findall(output)}
        yield FirstRun(base_url, workdir, output, accounts, started)
    finally:
        _stop(process)


def test_first_run_shows_four_pictured_drops_and_the_operator_gets_in(first_run: FirstRun, browse: Any) -> None:
    assert "Demo store seeded" in first_run.output, first_run.output[-3000:]
    assert set(first_run.accounts) == {"shopper", "employee", "operator"}
    assert f"{first_run.base_url}/login" in first_run.output

    page = browse("newcomer", base_url=first_run.base_url)
    page.goto("/")
    expect(page.locator("#drop-list > li")).to_have_count(4)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#drop-list picture img'))"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === 4")
    elapsed = time.monotonic() - first_run.started
    assert elapsed < 60, f"four pictured drops after {elapsed:.1f} s"
    badges = page.locator("#drop-list .badge").all_text_contents()
    # By general-sale time: the phone, the band (minutes), the pad (F-code early access now), the buds.
    assert badges == ["On sale", "Coming soon", "Early access", "Coming soon"], badges
    expect(page.locator("#drop-list li").nth(1).locator(".countdown")).to_contain_text("Opens in 0")

    email, password = first_run.accounts["operator"]
    ops = browse("operator", base_url=first_run.base_url)
    ops.goto("/login?next=/ops")
    ops.fill("#login-email", email)
    ops.fill("#login-password", password)
    ops.click("#login-form button[type=submit]")
    expect(ops.locator("nav [data-min-role=operator]")).to_be_visible()
    expect(ops.locator("h1")).to_have_text("Operations")
    expect(ops.locator("#pick option")).to_have_count(5)  # "Choose a drop…" and the four drops
    ops.select_option("#pick", index=1)
    expect(ops.locator("#live-conn")).to_have_text("Live")
    expect(ops.locator("#k-remaining")).to_have_text("300 / 300")

    shopper_email, shopper_password = first_run.accounts["shopper"]
    token = httpx.post(f"{first_run.base_url}/api/auth/token",
                       data={"username": shopper_email, "password": shopper_password}).json()["access_token"]
    me = httpx.get(f"{first_run.base_url}/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["role"] == "shopper"


def test_printed_passwords_are_nowhere_on_disk(first_run: FirstRun) -> None:
    passwords = [password.encode() for _, password in first_run.accounts.values()]
    for path in first_run.workdir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(p in data for p in passwords), f"a printed password is in {path}"
    drops = httpx.get(f"{first_run.base_url}/api/drops").json()
    assert [len(d["images"][0]["sizes"]) for d in drops] == [3, 3, 3, 3] and all(d["image_url"] for d in drops)


def test_a_second_start_prints_no_accounts(first_run: FirstRun, tmp_path: Path) -> None:
    # A copy of the first store (its database and pictures), started again: it must not seed.
    import shutil
    copy = tmp_path / "again"
    shutil.copytree(first_run.workdir / "var", copy / "var", ignore=shutil.ignore_patterns("redis", "prometheus"))
    port = free_port()
    log = tmp_path / "console.txt"
    process = _serve(copy, port, log)
    try:
        _wait_healthy(process, f"http://127.0.0.1:{port}", log)
        assert "Demo store seeded" not in log.read_text()
        assert len(httpx.get(f"http://127.0.0.1:{port}/api/drops").json()) == 4
    finally:
        _stop(process)
