"""Helpers for the browser tests: the API over HTTP, the console command, screenshots, signing in."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Correct-horse-1"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def unique_email(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:10]}@example.com"


# ---------- the server ----------

class Api:
    """The JSON API over real HTTP, for setting up and checking what the browser did."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)

    def token(self, email: str, password: str = PASSWORD) -> str:
        response = self.http.post("/api/auth/token", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def register(self, email: str, password: str = PASSWORD) -> str:
        response = self.http.post("/api/auth/register", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return self.token(email, password)

    def call(self, method: str, path: str, token: str, expect: int = 200, **kwargs: Any) -> Any:
        response = self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def create_drop(self, operator_token: str, **overrides: Any) -> dict[str, Any]:
        start = datetime.now(UTC) - timedelta(seconds=5)
        body: dict[str, Any] = {
            "sku": f"E2E-{uuid.uuid4().hex[:6].upper()}", "name": "Mi Band 9 Pro", "price_cents": 39900,
            "currency": "EUR", "stock": 20, "starts_at": iso(start), "ends_at": iso(start + timedelta(hours=1)),
            "per_user_limit": 1,
        }
        body.update(overrides)
        drop: dict[str, Any] = self.call("POST", "/api/admin/drops", operator_token, expect=201, json=body)
        return drop


@dataclass
class Server:
    base_url: str
    env: dict[str, str]
    log: Path
    api: Api
    operator: tuple[str, str] = ("", "")  # email, token

    def create_user(self, role: str) -> str:
        """A new account made with the console command, as the first operator is; returns its email."""
        email = unique_email(role)
        cli(self.env, "user", "create", "--email", email, "--password", PASSWORD, "--role", role)
        return email


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"flashsale {' '.join(args[:2])} failed: {done.stdout}{done.stderr}"
    return done.stdout


# Reported into every page before its own scripts run; CDP bindings are not subject to the page's CSP.
WATCH_SCRIPT = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__e2eReport("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
                     + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


@dataclass
class Watch:
    """What went wrong in the browser: console errors, uncaught exceptions, CSP violations, 5xx answers."""
    problems: list[str] = field(default_factory=list)

    def console(self, who: str, message: Any) -> None:
        text: str = message.text
        if message.type != "error":
            return
        # A fetch answered 4xx is expected (sign-in needed, sold out, bad code...): Chromium logs it anyway.
        if text.startswith("Failed to load resource: the server responded with a status of 4"):
            return
        self.problems.append(f"{who}: console error on {message.location.get('url') or '?'}: {text}")

    def response(self, who: str, response: Any) -> None:
        if response.status >= 500:
            self.problems.append(f"{who}: {response.status} from {response.request.method} {response.url}")


def shoot(page: Any, name: str) -> None:
    """Full-page screenshots at desktop and phone widths into tests/artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    before = page.viewport_size
    # Resizing moves everything: tests that watch for layout shifts leave out this span.
    page.evaluate("() => (window.__e2eResizes = window.__e2eResizes || []).push([performance.now(), Infinity])")
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)  # resize handlers (the ops chart) redraw
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True, animations="disabled")
    page.set_viewport_size(before)
    page.wait_for_timeout(150)
    page.evaluate("() => { var r = window.__e2eResizes; r[r.length - 1][1] = performance.now(); }")


def arrived_at(page: Any, path: str) -> None:
    """Waits until the page has left /login for `path` (a glob like "**/fcodes" would match the login
    page's own "?next=/fcodes" at once, before the sign-in answered)."""
    page.wait_for_url(lambda url: urlsplit(url).path == urlsplit(path).path)


def sign_in(page: Any, email: str, password: str = PASSWORD, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")
    arrived_at(page, next_path)


def register(page: Any, email: str, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.fill("#reg-email", email)
    page.fill("#reg-password", PASSWORD)
    page.click("#register-form button[type=submit]")
    arrived_at(page, next_path)


def token_of(page: Any) -> str:
    """The access token the page keeps (sessionStorage), to check with the API what the page did."""
    token: str = page.evaluate("() => FS.auth.token()")
    assert token, "the page has no token"
    return token


def landed_orders(api: Api, token: str, drop_id: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The buyer's orders of a drop from GET /api/orders, which reads the database: the order stream
    gets a purchase there a moment after it is answered, so this waits (bounded) for the first one."""
    deadline = time.monotonic() + timeout
    while True:
        orders = [o for o in api.call("GET", "/api/orders", token) if o["drop_id"] == drop_id]
        if orders or time.monotonic() > deadline:
            return orders
        time.sleep(0.1)
