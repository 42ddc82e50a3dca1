"""The audit log (issue 23): one entry per operator action, written with the change in one transaction,
read newest first in pages; nothing in the API edits it, and the database refuses UPDATE and DELETE."""
from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from audit.models import AuditEntry
from sale.models import Drop
from tests.support import SERVICES, create_drop, is_problem, make_account, make_accounts, runtime_of, services_of
from tests.support.fcodes import claim, client_at
from tests.support.queue import keys


async def entries(client: httpx.AsyncClient, headers: dict[str, str], actor_id: int) -> list[dict[str, Any]]:
    """Every entry of one operator, newest first, walking the pages (two entries a page)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/admin/audit", params=params, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        found += [e for e in body["items"] if e["actor_id"] == actor_id]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 400), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


async def test_each_operator_action_writes_one_entry(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, shopper = await make_account(app, "operator"), await make_account(app)
    await make_accounts(app, 1, "employee")
    h = operator.headers
    drop = await create_drop(client, operator, stock=5)
    base = f"/api/admin/drops/{drop['id']}"
    upload = await client.put(f"{base}/image", files={"file": ("p.png", png(), "image/png")}, headers=h)
    assert upload.status_code == 200, upload.text
    async with client_at(app, "203.0.113.7") as elsewhere:  # the client address is recorded
        assert (await elsewhere.post(f"{base}/pause", headers=h)).status_code == 200
    calls = [("POST", f"{base}/resume", None),
             ("PATCH", base, {"stock_delta": 3, "name": "Mi Band"}), ("POST", f"{base}/message", {"text": "Hi"}),
             ("POST", f"{base}/clone", {}), ("POST", f"{base}/cancel", {}),
             ("POST", "/api/admin/fcodes/issue", {}), ("PATCH", f"/api/admin/users/{shopper.id}", {"role": "employee"})]
    for method, url, body in calls:
        answer = await client.request(method, url, json=body, headers=h)
        assert answer.status_code in (200, 201, 202), (url, answer.text)
    code = (await claim(client, await make_account(app, "employee")))[0]["code"]
    assert (await client.post(f"/api/admin/fcodes/{code}/revoke", headers=h)).status_code == 200
    log = await entries(client, h, operator.id)
    actions = [e["action"] for e in reversed(log)]
    assert actions[:2] == ["drop.create", "drop.image"]
    assert actions[2:] == ["drop.pause", "drop.resume", "drop.update", "drop.message", "drop.clone", "drop.cancel",
                           "fcodes.issue", "user.role", "fcode.revoke"]
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    by_action = {e["action"]: e for e in log}
    pause = by_action["drop.pause"]
    assert (pause["before"], pause["after"]) == ({"paused": False}, {"paused": True})
    assert (pause["actor_email"], pause["client"], pause["target_type"], pause["target_id"]) == (
        operator.email, "203.0.113.7", "drop", str(drop["id"]))
    assert by_action["drop.resume"]["client"] == "127.0.0.1"
    update = by_action["drop.update"]
    assert update["before"] == {"name": "Mi Phone", "stock": 5} and update["after"] == {"name": "Mi Band", "stock": 8}
    assert by_action["drop.image"]["before"] == {"image": None} and by_action["drop.image"]["after"]["image"]
    assert by_action["drop.cancel"]["after"]["refund_paid"] is False
    assert by_action["user.role"]["after"] == {"role": "employee"}
    assert by_action["drop.clone"]["after"]["cloned_from"] == drop["id"]
    assert by_action["fcode.revoke"]["after"]["status"] == "revoked"
    assert (await client.get("/api/drops")).status_code == 200  # loads the clone now (see test_controls)
    # Reading the log changes nothing, and nothing in the API writes to it.
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await client.request(method, "/api/admin/audit", headers=h)).status_code == 405
    assert (await client.request("DELETE", f"/api/admin/audit/{log[0]['id']}", headers=h)).status_code == 404


async def test_bad_cursors_are_422(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    for cursor in ("x", "!!!", "b3JkZXJzHzEy", "YXVkaXQfLTE", "YXVkaXQfMR8y", "é", "a" * 500):
        for url in ("/api/admin/audit", "/api/admin/orders"):
            answer = await client.get(url, params={"cursor": cursor}, headers=operator.headers)
            assert is_problem(answer, 422, "validation_error"), (url, cursor, answer.text)
    for params in ({"limit": 0}, {"limit": 201}, {"status": "lost"}, {"drop_id": "x"}, {"drop_id": 0}):
        assert is_problem(await client.get("/api/admin/orders", params=params, headers=operator.headers), 422)


async def test_a_refused_or_failed_redis_step_records_nothing(app: FastAPI, client: httpx.AsyncClient,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=2)
    url = f"/api/admin/drops/{drop['id']}"
    before = await entries(client, operator.headers, operator.id)
    assert is_problem(await client.patch(url, json={"stock_delta": -3, "name": "Lost"}, headers=operator.headers),
                      409, "stock_conflict")
    controls = services_of(app).controls

    async def redis_down(*_: object) -> int:
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as patched:
        patched.setattr(controls.state, "apply", redis_down)
        assert is_problem(await client.post(f"{url}/pause", headers=operator.headers), 503, "service_unavailable")
    assert await entries(client, operator.headers, operator.id) == before
    async with runtime_of(app).sessions() as session:
        record = await session.get(Drop, drop["id"])
    assert record is not None and (record.paused, record.stock, record.name) == (False, 2, "Mi Phone")
    inv = await runtime_of(app).redis.hmget(keys(app, drop["id"]).inv, "paused", "stock")
    assert inv == [b"0", b"2"]


async def test_a_failed_commit_undoes_the_redis_step(app: FastAPI, client: httpx.AsyncClient,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=4)
    controls = services_of(app).controls
    real = controls.sessions

    @contextlib.asynccontextmanager
    async def commit_lost() -> AsyncIterator[AsyncSession]:
        async with real() as session:
            await session.begin()
            yield session
            await session.rollback()
            raise ConnectionResetError("the database went away at commit")

    class Sessions:
        def begin(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
            return commit_lost()

    before = await entries(client, operator.headers, operator.id)
    with monkeypatch.context() as patched:
        patched.setattr(controls, "sessions", Sessions())
        for path, body in (("/pause", None), ("", {"stock_delta": 5})):
            answer = await client.request("PATCH" if body else "POST", f"/api/admin/drops/{drop['id']}{path}",
                                          json=body, headers=operator.headers)
            assert is_problem(answer, 503, "service_unavailable"), answer.text
    inv = await runtime_of(app).redis.hmget(keys(app, drop["id"]).inv, "paused", "stock", "remaining")
    assert inv == [b"0", b"4", b"4"]  # Redis set back to the record's values
    assert await entries(client, operator.headers, operator.id) == before
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert (shown["paused"], shown["stock"], shown["remaining"]) == (False, 4, 4)


async def test_the_database_refuses_to_change_or_delete_entries(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    await create_drop(client, operator)
    runtime = runtime_of(app)
    statements = ["UPDATE audit SET action = 'nothing' WHERE actor_id = :me",
                  "DELETE FROM audit WHERE actor_id = :me"]
    if SERVICES:
        statements.append("TRUNCATE audit")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.sessions.begin() as session:
                await session.execute(text(statement), {"me": operator.id} if ":me" in statement else {})
    async with runtime.sessions() as session:
        rows = (await session.execute(text("SELECT action FROM audit WHERE actor_id = :me"),
                                      {"me": operator.id})).all()
    assert [r[0] for r in rows] == ["drop.create"]
    assert AuditEntry.__tablename__ == "audit"
