"""Web push: a local push service (aiohttp) that decrypts the RFC 8291 payload with http_ece; endpoints
on private hosts refused; a subscription the push service reports gone is deleted."""
from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import http_ece
import httpx
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from sqlalchemy import select

from core.net import free_port
from messages.models import PushSubscription
from tests.support import create_drop, eventually, iso, make_account, make_accounts, now, runtime_of, services_of
from tests.support.mail import another_worker_steps


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Browser:
    """A browser's push keys: what it registers, and what decrypts what the push service hands it."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    def subscription(self, endpoint: str) -> dict[str, object]:
        point = self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                   serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": endpoint, "expirationTime": None, "keys": {"p256dh": b64(point), "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, str]:
        plain = http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        found: dict[str, str] = orjson.loads(plain)
        return found


@dataclass
class PushService:
    port: int
    received: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService(free_port())

    async def receive(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        service.received.setdefault(name, []).append((dict(request.headers), await request.read()))
        return web.Response(status=410 if name.startswith("gone") else 201)

    application = web.Application()
    application.router.add_post("/push/{name}", receive)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", service.port).start()
    yield service
    await runner.cleanup()


async def test_push_key_and_refused_endpoints(app: FastAPI, client: httpx.AsyncClient,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    key = await client.get("/api/push/key")
    assert key.status_code == 200
    assert len(base64.urlsafe_b64decode(key.json()["vapid_public_key"] + "==")) == 65
    buyer = await make_account(app)
    browser = Browser()
    for endpoint in ("https://10.1.2.3/push/x", "https://192.168.0.9/push", "https://169.254.169.254/latest",
                     "http://push.example.com/x", "ftp://push.example.com/x", "https://user:pw@127.0.0.1/x",
                     "https://[fd00::1]/x", "https://0.0.0.0/x", "not a url"):
        refused = await client.put("/api/me/push", json=browser.subscription(endpoint), headers=buyer.headers)
        assert refused.status_code == 422 and refused.json()["code"] == "push_endpoint_refused", endpoint
    # Loopback only in development: outside it, a local address is refused like a private one.
    monkeypatch.setattr(services_of(app).messages, "development", False)
    refused = await client.put("/api/me/push", json=browser.subscription("https://127.0.0.1:9/x"),
                               headers=buyer.headers)
    assert refused.status_code == 422
    assert (await client.put("/api/me/push", json=browser.subscription("https://127.0.0.1:9/x"))).status_code == 401


async def test_drop_open_by_push_decrypted_and_gone_subscriptions_deleted(
        app: FastAPI, client: httpx.AsyncClient, push_service: PushService) -> None:
    operator = await make_account(app, "operator")
    buyer, other = await make_accounts(app, 2)
    browser, phone, old = Browser(), Browser(), Browser()
    for who, device, name in ((buyer, browser, "laptop"), (buyer, phone, "phone"), (other, old, "gone-old")):
        put = await client.put("/api/me/push", json=device.subscription(push_service.url(f"{name}-{who.id}")),
                               headers=who.headers)
        assert put.status_code == 200, put.text
    drop = await create_drop(client, operator, name="Push Phone", starts_at=iso(now() + timedelta(seconds=2)))
    for who in (buyer, other):
        reminded = await client.put(f"/api/drops/{drop['id']}/reminder", json={"channels": ["push"]},
                                    headers=who.headers)
        assert reminded.status_code == 200

    async def delivered() -> bool:
        return all(push_service.received.get(f"{n}-{w.id}") for n, w in
                   (("laptop", buyer), ("phone", buyer), ("gone-old", other)))

    await eventually(delivered, timeout=15)
    await another_worker_steps(app)  # more steps of a scheduler and a sender: still one each
    for name, device in (("laptop", browser), ("phone", phone)):
        sent = push_service.received[f"{name}-{buyer.id}"]
        assert len(sent) == 1
        headers, body = sent[0]
        assert headers["Authorization"].startswith("vapid t=") and headers["Content-Encoding"] == "aes128gcm"
        payload = browser.decrypt(body) if device is browser else phone.decrypt(body)
        assert payload["kind"] == "drop_open" and payload["url"].endswith(f"/drops/{drop['id']}")
        assert "Push Phone" in payload["title"]
    async with runtime_of(app).sessions() as session:
        left = (await session.execute(select(PushSubscription).where(
            PushSubscription.user_id == other.id))).scalars().all()
    assert left == []  # 410: deleted
    messages = (await client.get("/api/me/messages", headers=buyer.headers)).json()
    opened = [m for m in messages if m["drop_id"] == drop["id"]]
    assert opened[0]["channels"] == {"push": "sent"}
