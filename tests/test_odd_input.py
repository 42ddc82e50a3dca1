"""Odd input from outside gets a 4xx problem, never a 500 and never the wrong row: Unicode digits
in ids, non-ASCII cookies and headers, forged `sub` and `aud` claims, unparsable bodies."""
from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.support import create_drop, is_problem, make_account, runtime_of
from tests.support.share import browser, paid_order, token_of
from tests.test_auth_tokens import bearer, claims_for, sign

# '³' (superscript three) and '٣' (Arabic-Indic three): str.isdigit() is True for both.
ODD_IDS = ("%C2%B3", "%D9%A3", "%EF%BC%93", "3%C2%A0", "%F0%9D%9F%91", "+3", "3_0", " 3", "0x3", "03e0")


async def test_unicode_digits_never_name_a_drop_or_an_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, stock=3)
    digit = str(drop["id"])[-1]
    odd_digit = {"%C2%B3": "3", "%D9%A3": "3"}
    for odd in ODD_IDS:
        calls = [
            ("GET", f"/api/drops/{odd}", None, "drop_not_found"),
            ("POST", f"/api/drops/{odd}/purchase", buyer, "drop_not_found"),
            ("GET", f"/api/admin/drops/{odd}/stats", operator, "drop_not_found"),
            ("GET", f"/api/orders/{odd}-abcdef", buyer, "order_not_found"),
            ("POST", f"/api/orders/{odd}-abcdef/pay", buyer, "order_not_found"),
            ("POST", f"/api/orders/{odd}-abcdef/cancel", buyer, "order_not_found"),
            ("GET", f"/api/orders/{odd}-abcdef/share", buyer, "order_not_found"),
            ("PATCH", f"/api/admin/users/{odd}", operator, "user_not_found"),
        ]
        for method, path, account, code in calls:
            body = {"payment_token": "test_ok"} if path.endswith("/pay") else (
                {"role": "employee"} if "/users/" in path else None)
            response = await client.request(method, path, headers=account.headers if account else {}, json=body)
            assert is_problem(response, 404, code), (method, path, response.status_code, response.text)
    # The Arabic-Indic three never answers drop 3 (nor the drop whose id ends in 3).
    if digit in odd_digit.values():
        assert is_problem(await client.get(f"/api/drops/{str(drop['id'])[:-1]}%D9%A3"), 404, "drop_not_found")


async def test_a_non_ascii_referral_cookie_is_ignored(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    seller, buyer = await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    share_url = (await paid_order(client, seller, drop["id"]))["share_url"]
    token = token_of(share_url)
    for cookie in (b"fs_ref=AAAAAAAAAAAAAAAAAAAAAA.123.\xe9", b"fs_ref=" + token.encode() + b".1\xb3.abc",
                   b"fs_ref=\xff\xfe\x00", b"fs_ref=" + token.encode() + b".\xd9\xa3.x"):
        async with browser(app) as visitor:
            page = await visitor.get(f"/s/{token}", headers={"Cookie": cookie})  # type: ignore[dict-item]
            assert page.status_code == 200, (cookie, page.status_code, page.text[:200])
        bought = await client.post(f"/api/drops/{drop['id']}/purchase", json={},
                                   headers={**buyer.headers, "Cookie": cookie})  # type: ignore[dict-item]
        assert bought.status_code in (201, 409), (cookie, bought.status_code, bought.text)
        assert bought.headers["content-type"].startswith(("application/json", "application/problem+json"))


async def test_odd_headers_are_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer = await make_account(app)
    drop = await create_drop(client, operator, stock=5, per_user_limit=5)
    for key in (b"\xe9t\xe9", b"k\xff", b"x" * 201, b"\x7f"):
        response = await client.post(f"/api/drops/{drop['id']}/purchase", json={},
                                     headers={**buyer.headers, "Idempotency-Key": key})  # type: ignore[dict-item]
        assert response.status_code in (201, 422), (key, response.status_code, response.text)
    for auth in (b"Bearer \xe9\xe9.\xe9.\xe9", b"Bearer \xff", "Bearer ٣.٣.٣".encode()):
        response = await client.get("/api/me", headers={"Authorization": auth})  # type: ignore[dict-item]
        assert is_problem(response, 401, "unauthorized"), (auth, response.text)
    for forwarded in (b"\xe9", b"1.2.3.4, \xff"):
        response = await client.get("/api/drops", headers={"X-Forwarded-For": forwarded})  # type: ignore[dict-item]
        assert response.status_code == 200


async def test_forged_sub_and_aud_claims_are_401(app: FastAPI, client: httpx.AsyncClient) -> None:
    settings = runtime_of(app).settings
    account = await make_account(app, "operator")
    forged = {
        "sub beyond 64 bits": claims_for(settings, account, sub=str(2**70)),
        "sub beyond 32 bits": claims_for(settings, account, sub=str(2**40)),
        "sub as a number": claims_for(settings, account, sub=account.id),
        "sub with unicode digits": claims_for(settings, account, sub="٣"),
        "negative sub": claims_for(settings, account, sub="-1"),
        "aud as a list with ours": claims_for(settings, account, aud=[settings.jwt_audience, "other"]),
        "aud as a list of ours only": claims_for(settings, account, aud=[settings.jwt_audience]),
        "ver as text": claims_for(settings, account, ver="9"),
        "negative ver": claims_for(settings, account, ver=-1),
    }
    for name, claims in forged.items():
        response = await client.get("/api/me", headers=bearer(sign(claims, settings.jwt_secret,
                                                                    kid=settings.jwt_kid)))
        assert is_problem(response, 401, "unauthorized"), (name, response.status_code, response.text)


async def test_unparsable_bodies_are_422_validation_errors(client: httpx.AsyncClient) -> None:
    cases = [
        ("/api/auth/token", {"Content-Type": "multipart/form-data"}, b"--x\r\n"),           # no boundary
        ("/api/auth/token", {"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\nbroken"),
        ("/api/auth/register", {"Content-Type": "application/json"}, b"\xff\xfe{"),
    ]
    for path, headers, body in cases:
        response = await client.post(path, headers=headers, content=body)
        assert is_problem(response, 422, "validation_error"), (path, body, response.status_code, response.text)
        assert response.json()["code"] != "http_error"
