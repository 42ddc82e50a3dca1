"""Roles and sign-outs take effect at once: every token carries its account's version, checked on
each authenticated request; a role change, a password change and "sign out everywhere" raise it.
When Redis lost the versions they come back from SQL, never silently accepting old tokens."""
from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from core.token_versions import TokenRevoked, TokenVersions, VersionScripts
from tests.support import PASSWORD, Account, create_drop, is_problem, make_account, runtime_of


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def test_a_demoted_operator_loses_operator_rights_at_once(app: FastAPI, client: httpx.AsyncClient) -> None:
    boss = await make_account(app, "operator")
    demoted = await make_account(app, "operator")
    assert (await client.get("/api/admin/fcodes/stats", headers=demoted.headers)).status_code == 200
    changed = await client.patch(f"/api/admin/users/{demoted.id}", json={"role": "shopper"}, headers=boss.headers)
    assert changed.status_code == 200, changed.text
    # The old token can neither use operator routes nor promote itself back.
    again = await client.patch(f"/api/admin/users/{demoted.id}", json={"role": "operator"},
                               headers=demoted.headers)
    assert is_problem(again, 401, "unauthorized"), again.text
    assert is_problem(await client.post("/api/admin/drops", json={}, headers=demoted.headers), 401, "unauthorized")
    assert is_problem(await client.get("/api/me", headers=demoted.headers), 401, "unauthorized")
    # Signing in again gives a token of the new role, which works.
    fresh = bearer(await sign_in(client, demoted.email))
    me = await client.get("/api/me", headers=fresh)
    assert me.status_code == 200 and me.json()["role"] == "shopper"
    assert is_problem(await client.get("/api/admin/fcodes/stats", headers=fresh), 403, "forbidden")
    # The operator who made the change is untouched; setting the same role again revokes nothing.
    assert (await client.patch(f"/api/admin/users/{demoted.id}", json={"role": "shopper"},
                               headers=boss.headers)).status_code == 200
    assert (await client.get("/api/me", headers=fresh)).status_code == 200


async def test_a_password_change_ends_the_other_tokens(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await make_account(app)
    other_device = bearer(await sign_in(client, account.email))
    wrong = await client.post("/api/me/password",
                              json={"current_password": "Not-it-123", "new_password": "New-pass-456"},
                              headers=account.headers)
    assert is_problem(wrong, 401, "bad_credentials"), wrong.text
    assert (await client.get("/api/me", headers=account.headers)).status_code == 200  # nothing changed
    changed = await client.post("/api/me/password", json={"current_password": PASSWORD,
                                                          "new_password": "New-pass-456"},
                                headers=account.headers)
    assert changed.status_code == 200, changed.text
    for old in (account.headers, other_device):
        assert is_problem(await client.get("/api/me", headers=old), 401, "unauthorized")
    assert (await client.get("/api/me", headers=bearer(changed.json()["access_token"]))).status_code == 200
    refused = await client.post("/api/auth/token", data={"username": account.email, "password": PASSWORD})
    assert is_problem(refused, 401, "bad_credentials")
    await sign_in(client, account.email, "New-pass-456")
    short = await client.post("/api/me/password", json={"current_password": "New-pass-456", "new_password": "short"},
                              headers=bearer(changed.json()["access_token"]))
    assert is_problem(short, 422, "validation_error")


async def test_sign_out_everywhere(app: FastAPI, client: httpx.AsyncClient) -> None:
    account = await make_account(app)
    second = bearer(await sign_in(client, account.email))
    out = await client.post("/api/me/sign-out-everywhere", headers=second)
    assert out.status_code == 204, out.text
    for old in (account.headers, second):
        assert is_problem(await client.get("/api/me", headers=old), 401, "unauthorized")
        assert is_problem(await client.get("/api/orders", headers=old), 401, "unauthorized")
    assert (await client.get("/api/me", headers=bearer(await sign_in(client, account.email)))).status_code == 200


async def test_versions_lost_in_redis_come_back_from_sql(app: FastAPI, client: httpx.AsyncClient) -> None:
    runtime = runtime_of(app)
    account = await make_account(app)
    old = account.headers
    assert (await client.post("/api/me/sign-out-everywhere", headers=old)).status_code == 204
    fresh = bearer(await sign_in(client, account.email))
    # Redis loses the versions (a restart without persistence, a flush): no silent acceptance.
    await runtime.redis.delete(runtime.keys.token_versions, runtime.keys.token_versions_ready)
    assert is_problem(await client.get("/api/me", headers=old), 401, "unauthorized")
    assert (await client.get("/api/me", headers=fresh)).status_code == 200
    assert await runtime.redis.exists(runtime.keys.token_versions_ready)


async def test_a_revoked_token_cannot_purchase(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=5, per_user_limit=2)
    buyer: Account = await make_account(app)
    first = await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=buyer.headers)
    assert first.status_code == 201, first.text  # the drop is live in Redis now
    assert (await client.post("/api/me/sign-out-everywhere", headers=buyer.headers)).status_code == 204
    refused = await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=buyer.headers)
    assert is_problem(refused, 401, "unauthorized"), refused.text
    # A drop that goes live after the sign-out knows of it too.
    later = await create_drop(client, operator, stock=5)
    refused = await client.post(f"/api/drops/{later['id']}/purchase", json={}, headers=buyer.headers)
    assert is_problem(refused, 401, "unauthorized"), refused.text
    fresh = bearer(await sign_in(client, buyer.email))
    assert (await client.post(f"/api/drops/{later['id']}/purchase", json={}, headers=fresh)).status_code == 201
    stats = await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)
    assert stats.json()["reserved"] == 1  # the refused purchase took nothing


async def test_a_revoked_token_cannot_pay(app: FastAPI, client: httpx.AsyncClient) -> None:
    """pay_hold.lua checks the drop's copy of the versions in its round trip; every other answer (a bad
    body, an unknown order, an order paid before) asks the account-wide versions first."""
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=5, per_user_limit=2)
    buyer: Account = await make_account(app)
    bought = [await client.post(f"/api/drops/{drop['id']}/purchase", json={}, headers=buyer.headers)
              for _ in range(2)]
    assert [r.status_code for r in bought] == [201, 201], [r.text for r in bought]
    paid_id, reserved_id = (r.json()["id"] for r in bought)
    paid = await client.post(f"/api/orders/{paid_id}/pay", json={"payment_token": "test_ok"}, headers=buyer.headers)
    assert paid.status_code == 200, paid.text
    assert (await client.post("/api/me/sign-out-everywhere", headers=buyer.headers)).status_code == 204
    for order_id, body in ((reserved_id, {"payment_token": "test_ok"}), (paid_id, {"payment_token": "test_ok"}),
                           (f"{drop['id']}-{'0' * 20}", {"payment_token": "test_ok"}), (reserved_id, {})):
        refused = await client.post(f"/api/orders/{order_id}/pay", json=body, headers=buyer.headers)
        assert is_problem(refused, 401, "unauthorized"), (order_id, body, refused.text)
    stats = await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)
    assert (stats.json()["reserved"], stats.json()["paid"]) == (1, 1)  # nothing was charged
    fresh = bearer(await sign_in(client, buyer.email))
    again = await client.post(f"/api/orders/{reserved_id}/pay", json={"payment_token": "test_ok"}, headers=fresh)
    assert again.status_code == 200, again.text


async def test_another_worker_sees_a_revocation_from_the_change_log(app: FastAPI) -> None:
    """Each worker keeps a copy of the versions for the hot path, refreshed from the change log (at
    most every second by default; here at every read, so no waiting): a bump made by another worker
    reaches it without any per-purchase Redis read."""
    runtime = runtime_of(app)
    account = await make_account(app)
    mine = runtime.versions
    scripts = VersionScripts(runtime.scripts["token_version_check"], runtime.scripts["token_version_raise"])
    other = TokenVersions(runtime.redis, runtime.keys, scripts, mine._record, refresh_seconds=0)
    assert await other.recent(account.id) == 0
    await mine.bump(account.id, 4)
    assert await other.recent(account.id) == 4
    with pytest.raises(TokenRevoked):
        await other.check_recent(account.id, 3)
    await other.check_recent(account.id, 4)
