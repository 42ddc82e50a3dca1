"""Accounts: registration, login and its failure limits, /api/me, role changes, and the operator
role on every admin route."""
from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.responses import StreamingResponse

from tests.support import PASSWORD, Account, is_problem, make_account, runtime_of


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from `address` (an ASGI label, no traffic), so that failure
    counters per client address stay apart from every other test's."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


def fresh_address() -> str:
    raw = uuid.uuid4().bytes
    return f"127.{raw[0]}.{raw[1]}.{raw[2] or 1}"


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", data={"username": email, "password": password})


async def test_register_then_login_then_me(client: httpx.AsyncClient) -> None:
    email = new_email()
    created = await client.post("/api/auth/register",
                                json={"email": email, "password": PASSWORD, "display_name": "Lei"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == email and body["display_name"] == "Lei" and body["role"] == "shopper"
    assert "password" not in created.text and "hash" not in created.text

    token = await login(client, email.upper(), PASSWORD)  # emails compare case-insensitively
    assert token.status_code == 200, token.text
    issued = token.json()
    assert issued["token_type"] == "bearer" and issued["expires_in"] > 0
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert me.status_code == 200
    assert me.json() == body


async def test_duplicate_registration_is_409_also_by_case(client: httpx.AsyncClient) -> None:
    email = new_email()
    first = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    assert first.status_code == 201
    for again in (email, email.upper()):
        dup = await client.post("/api/auth/register", json={"email": again, "password": "Another-pass-9"})
        assert is_problem(dup, 409, "email_taken"), dup.text


async def test_concurrent_duplicate_registrations_make_exactly_one_account(client: httpx.AsyncClient) -> None:
    email = new_email()
    responses = await asyncio.gather(*(
        client.post("/api/auth/register", json={"email": email, "password": PASSWORD}) for _ in range(25)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 24}, [(r.status_code, r.text) for r in responses if r.status_code != 409]
    assert all(is_problem(r, 409, "email_taken") for r in responses if r.status_code == 409)


async def test_registration_refuses_bad_input_with_422(client: httpx.AsyncClient) -> None:
    cases: list[dict[str, Any]] = [
        {"email": "not-an-email", "password": PASSWORD},
        {"email": "a@", "password": PASSWORD},
        {"email": new_email(), "password": "short7!"},                      # 7 characters
        {"email": new_email(), "password": PASSWORD, "role": "operator"},  # unknown field: no self-promotion
        {"email": new_email()},
        {"password": PASSWORD},
        {"email": 5, "password": PASSWORD},
        {"email": new_email(), "password": ["x" * 10]},
        {"email": new_email(), "password": PASSWORD, "display_name": 42},
        {"email": new_email(), "password": PASSWORD, "display_name": "   "},
        {"email": new_email(), "password": "p" * 257},
    ]
    for body in cases:
        response = await client.post("/api/auth/register", json=body)
        assert is_problem(response, 422, "validation_error"), (body, response.status_code, response.text)
        assert response.json()["errors"], body
    for raw in (b"[]", b"null", b'"text"', b"{not json", b'{"email": "a@b.c", ', b"\xff\xfe"):
        response = await client.post("/api/auth/register", content=raw,
                                     headers={"Content-Type": "application/json"})
        assert is_problem(response, 422, "validation_error"), (raw, response.status_code, response.text)


async def test_eight_character_password_is_enough(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/register", json={"email": new_email(), "password": "12345678"})
    assert response.status_code == 201, response.text


async def test_wrong_password_and_unknown_account_are_the_same_401(app: FastAPI) -> None:
    account = await make_account(app)
    async with client_at(app, fresh_address()) as client:
        wrong = await login(client, account.email, "Wrong-password-1")
        unknown = await login(client, new_email(), PASSWORD)
        missing = await client.post("/api/auth/token", data={"username": account.email})
        as_json = await client.post("/api/auth/token", json={"username": account.email, "password": PASSWORD})
    for response in (wrong, unknown):
        assert is_problem(response, 401, "bad_credentials"), response.text
        assert response.headers.get("www-authenticate") == "Bearer"
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no account enumeration
    assert is_problem(missing, 422, "validation_error")
    assert is_problem(as_json, 422, "validation_error")  # the contract's grant is a form


async def test_successful_logins_do_not_count_as_failures(app: FastAPI) -> None:
    limit = runtime_of(app).settings.login_max_failures
    account = await make_account(app)
    async with client_at(app, fresh_address()) as client:
        for _ in range(limit + 2):
            assert (await login(client, account.email, PASSWORD)).status_code == 200


async def test_operator_changes_a_role(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    shopper = await make_account(app)
    changed = await client.patch(f"/api/admin/users/{shopper.id}", json={"role": "employee"},
                                 headers=operator.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"id": shopper.id, "email": shopper.email, "display_name": None,
                              "role": "employee"}
    token = await login(client, shopper.email, PASSWORD)
    fresh = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/api/me", headers=fresh)).json()["role"] == "employee"

    for body in ({"role": "admin"}, {}, {"role": "employee", "email": "x@example.com"}, {"role": None}):
        bad = await client.patch(f"/api/admin/users/{shopper.id}", json=body, headers=operator.headers)
        assert is_problem(bad, 422, "validation_error"), (body, bad.text)
    for user_id in ("2147483000", "99999999999999999999999", "-1", "abc"):
        missing = await client.patch(f"/api/admin/users/{user_id}", json={"role": "employee"},
                                     headers=operator.headers)
        assert missing.status_code in (404, 422), (user_id, missing.status_code, missing.text)
        assert is_problem(missing, missing.status_code), missing.text


async def test_me_needs_a_token_and_finds_no_deleted_account(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert is_problem(await client.get("/api/me"), 401, "unauthorized")
    token, _ = runtime_of(app).tokens.issue(2_000_000_000, "shopper")  # validly signed, no such account
    gone = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code in (401, 404) and is_problem(gone, gone.status_code), gone.text


def admin_routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path with dummy ids, streams) of every HTTP route under /api/admin, included
    routers flattened."""
    routes: list[tuple[str, str, bool]] = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and (route.path or "").startswith("/api/admin"):
            path = re.sub(r"\{[^}]+\}", "1", route.path or "")
            streams = route.original_route.response_class is StreamingResponse
            routes.extend((method, path, streams) for method in sorted(route.methods or ()))
    return routes


async def call(client: httpx.AsyncClient, method: str, path: str, account: Account | None) -> httpx.Response:
    headers = account.headers if account else {}
    body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, path, headers=headers, json=body)


async def test_every_admin_route_needs_the_operator_role(app: FastAPI, client: httpx.AsyncClient) -> None:
    routes = admin_routes(app)
    assert len(routes) >= 3, routes  # users, drops, stats at least: the test would be empty otherwise
    shopper = await make_account(app, "shopper")
    employee = await make_account(app, "employee")
    operator = await make_account(app, "operator")
    for method, path, streams in routes:
        anonymous = await call(client, method, path, None)
        assert is_problem(anonymous, 401, "unauthorized"), (method, path, anonymous.text)
        for account in (shopper, employee):
            refused = await call(client, method, path, account)
            assert is_problem(refused, 403, "forbidden"), (method, path, account.role, refused.text)
        if streams:
            continue  # an operator's event stream stays open; the refusals above are what matter here
        allowed = await call(client, method, path, operator)
        assert allowed.status_code not in (401, 403), (method, path, allowed.text)
        assert allowed.status_code < 500, (method, path, allowed.status_code, allowed.text)


async def test_a_hash_made_with_older_argon2_parameters_is_replaced_at_sign_in(app: FastAPI) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import select

    from accounts.models import User
    old_hash = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)  # argon2-cffi's default
    runtime = runtime_of(app)
    email = new_email()
    async with runtime.sessions.begin() as session:
        session.add(User(email=email, password_hash=old_hash, role="shopper"))

    async def stored_hash() -> str:
        async with runtime.sessions() as session:
            return (await session.execute(select(User.password_hash).where(User.email == email))).scalar_one()

    async with client_at(app, fresh_address()) as client:
        assert (await login(client, email, PASSWORD)).status_code == 200
        upgraded = await stored_hash()
        assert upgraded != old_hash and upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert (await login(client, email, PASSWORD)).status_code == 200  # the new hash verifies
        assert await stored_hash() == upgraded  # and is not made again
        assert (await login(client, email, "wrong password")).status_code == 401
