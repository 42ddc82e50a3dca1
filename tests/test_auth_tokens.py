"""Bearer tokens under attack: every forged, stale or malformed token is a 401 problem (never a 403
that would confirm the role, never a 500), and rotated-out keys keep verifying while listed."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from core.settings import Settings
from core.tokens import TokenService
from tests.support import PASSWORD, Account, is_problem, make_account, runtime_of
from tests.test_platform import fresh_app, serving


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """A correctly signed token with any header (PyJWT's encoder refuses odd ones)."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    mac = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{raw(mac)}"


def claims_for(settings: Settings, account: Account, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": str(account.id), "role": account.role, "iat": now, "exp": now + 600,
                              "iss": settings.jwt_issuer, "aud": settings.jwt_audience}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims: dict[str, Any], secret: str, *, kid: str | None = "k1", alg: str = "HS256") -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, secret, algorithm=alg, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forgeries(settings: Settings, account: Account) -> dict[str, dict[str, Any]]:
    """Requests' Authorization headers that must all be refused with 401. The account is an
    operator's, so a forgery that got through would show as a 200 or a 404, not a 403."""
    secret, kid = settings.jwt_secret, settings.jwt_kid
    good = claims_for(settings, account)
    valid = sign(good, secret, kid=kid)
    head, payload, signature = valid.split(".")
    return {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "token without scheme": {"Authorization": valid},
        "garbage": bearer("not.a.token"),
        "two parts": bearer(f"{head}.{payload}"),
        "non-json header": bearer(f"{base64.urlsafe_b64encode(b'nope').decode()}.{payload}.{signature}"),
        "expired": bearer(sign(claims_for(settings, account, iat=int(time.time()) - 700,
                                          exp=int(time.time()) - 5), secret, kid=kid)),
        "tampered payload": bearer(f"{head}.{b64({**good, 'sub': str(account.id + 1)})}.{signature}"),
        "tampered signature": bearer(f"{head}.{payload}.{signature[:-4]}AAAA"),
        "alg none": bearer(f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}."),
        "alg none signed": bearer(f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.{signature}"),
        "other algorithm, same secret": bearer(sign(good, secret, kid=kid, alg="HS384")),
        "another key": bearer(sign(good, "another-secret-" + "y" * 40, kid=kid)),
        "another audience": bearer(sign(claims_for(settings, account, aud="someone-else"), secret, kid=kid)),
        "another issuer": bearer(sign(claims_for(settings, account, iss="evil"), secret, kid=kid)),
        "no exp": bearer(sign({k: v for k, v in good.items() if k != "exp"}, secret, kid=kid)),
        "no role": bearer(sign({k: v for k, v in good.items() if k != "role"}, secret, kid=kid)),
        "no sub": bearer(sign({k: v for k, v in good.items() if k != "sub"}, secret, kid=kid)),
        "unknown role": bearer(sign(claims_for(settings, account, role="admin"), secret, kid=kid)),
        "role not a string": bearer(sign(claims_for(settings, account, role=["operator"]), secret, kid=kid)),
        "sub not a number": bearer(sign(claims_for(settings, account, sub="root"), secret, kid=kid)),
        "exp not a number": bearer(sign(claims_for(settings, account, exp="tomorrow"), secret, kid=kid)),
        "unknown kid": bearer(sign(good, secret, kid="k-unknown")),
        "no kid": bearer(sign(good, secret, kid=None)),
        "non-ascii": {"Authorization": "Bearer t\u00f6ken".encode("latin-1")},
        # Shapes that made the former hand-written verifier raise (a 500) before any check:
        "non-ascii byte in the signature": {"Authorization": f"Bearer {head}.{payload}.{signature[:-1]}\u00e9"
                                            .encode("latin-1")},
        "kid a list": bearer(f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': [kid]})}.{payload}.{signature}"),
        "kid a list, signed": bearer(hs256({"alg": "HS256", "kid": [kid]}, good, secret)),
        "kid an object": bearer(f"{b64({'alg': 'HS256', 'kid': {'k': kid}})}.{payload}.{signature}"),
        "kid a number": bearer(hs256({"alg": "HS256", "kid": 1}, good, secret)),
        "header a list": bearer(f"{raw(b'[1,2]')}.{payload}.{signature}"),
        "header nested deep": bearer(f"{raw(b'[' * 5000)}.{payload}.{signature}"),
        "payload a list": bearer(f"{head}.{raw(b'[1]')}.{signature}"),
        "exp huge": bearer(sign(claims_for(settings, account, exp=10**400), secret, kid=kid)),
        "exp infinite": bearer(f"{head}.{raw(json.dumps({**good, 'exp': 1e999}).encode())}.{signature}"),
        "ver a string": bearer(sign(claims_for(settings, account, ver="1"), secret, kid=kid)),
        "ver huge": bearer(sign(claims_for(settings, account, ver=2**70), secret, kid=kid)),
        "aud a list": bearer(sign(claims_for(settings, account, aud=[settings.jwt_audience, "x"]), secret, kid=kid)),
        "padded segments": bearer(f"{head}==.{payload}.{signature}"),
        "four parts": bearer(f"{valid}.{signature}"),
        "dots only": bearer(".."),
        "utf-8 in the payload": {"Authorization": f"Bearer {head}.\u00ff\u00fe.{signature}".encode("latin-1")},
    }


async def test_forged_and_malformed_tokens_are_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    settings = runtime_of(app).settings
    operator = await make_account(app, "operator")
    target = await make_account(app)
    attempts = forgeries(settings, operator)
    for name, headers in attempts.items():
        for method, path, body in (("GET", "/api/me", None),
                                   ("PATCH", f"/api/admin/users/{target.id}", {"role": "operator"})):
            response = await client.request(method, path, headers=headers, json=body)
            assert is_problem(response, 401, "unauthorized"), (name, method, path, response.status_code,
                                                               response.text)
            assert response.headers.get("www-authenticate") == "Bearer", name
    # The control: the same operator's genuine token passes, and the shopper was never promoted.
    assert (await client.get("/api/me", headers=bearer(sign(claims_for(settings, operator),
                                                           settings.jwt_secret)))).status_code == 200
    me = await client.get("/api/me", headers=target.headers)
    assert me.json()["role"] == "shopper"


# Slow: PyJWT checks `exp` against the real time in whole seconds, so the token must live through
# one request and then really expire (about two seconds); the injected clock cannot step it.
@pytest.mark.slow
async def test_a_token_stops_working_when_it_expires_even_after_use(app: FastAPI,
                                                                    client: httpx.AsyncClient) -> None:
    settings = runtime_of(app).settings
    account = await make_account(app)
    expires = int(time.time()) + 2
    token = sign(claims_for(settings, account, exp=expires), settings.jwt_secret)
    assert (await client.get("/api/me", headers=bearer(token))).status_code == 200  # verified, now cached
    await asyncio.sleep(max(0.0, expires - time.time()) + 0.2)
    late = await client.get("/api/me", headers=bearer(token))
    assert is_problem(late, 401, "unauthorized"), late.text


async def test_valid_role_token_without_the_role_is_403(app: FastAPI, client: httpx.AsyncClient) -> None:
    shopper = await make_account(app)
    response = await client.patch(f"/api/admin/users/{shopper.id}", json={"role": "operator"},
                                  headers=shopper.headers)
    assert is_problem(response, 403, "forbidden"), response.text


async def test_rotated_key_still_verifies_while_listed(app: FastAPI, settings: Settings) -> None:
    old = await make_account(app)  # its token is signed by the session app's key, kid k1
    new_secret = "rotated-secret-" + "z" * 40
    rotated = {"jwt_secret": new_secret, "jwt_kid": "k2",
               "jwt_old_secrets": f"k0=retired-{'q' * 40}, {settings.jwt_kid}={settings.jwt_secret}"}
    async with serving(fresh_app(settings, **rotated)) as client:
        assert (await client.get("/api/me", headers=old.headers)).status_code == 200
        login = await client.post("/api/auth/token", data={"username": old.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        new_token = login.json()["access_token"]
        assert jwt.get_unverified_header(new_token)["kid"] == "k2"
        assert (await client.get("/api/me", headers=bearer(new_token))).status_code == 200
        # The old kid with the new secret (a key-confusion attempt) is refused.
        confused = sign(claims_for(settings, old), new_secret, kid=settings.jwt_kid)
        assert is_problem(await client.get("/api/me", headers=bearer(confused)), 401, "unauthorized")
    # Once the old secret is removed from the list, its tokens stop verifying.
    retired = TokenService(settings.model_copy(update={"jwt_secret": new_secret, "jwt_kid": "k2"}))
    assert retired.verify(new_token).user_id == old.id
    try:
        retired.verify(old.token)
        raise AssertionError("a token of a removed key verified")
    except Exception as exc:  # the domain error is what is asserted
        assert getattr(exc, "status", None) == 401
