"""Problem details for everything that goes wrong: unknown routes, wrong methods, bodies too large
or malformed, and unexpected exceptions (500 with no trace). No malformed request gets a 5xx."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from core.settings import Settings
from tests.support import PASSWORD, is_problem, make_account, runtime_of
from tests.test_platform import fresh_app, serving

PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


async def test_unknown_api_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    for method in ("GET", "POST", "DELETE"):
        response = await client.request(method, "/api/no/such/thing")
        assert is_problem(response, 404, "not_found"), (method, response.text)
        body = response.json()
        assert set(body) >= PROBLEM_FIELDS and body["status"] == 404


async def test_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    for method, path in (("DELETE", "/api/me"), ("GET", "/api/auth/register"), ("PUT", "/api/auth/token"),
                         ("POST", "/healthz")):
        response = await client.request(method, path)
        assert is_problem(response, 405, "method_not_allowed"), (method, path, response.text)
        assert response.headers.get("allow"), (method, path)


async def test_unexpected_exception_is_a_500_problem_without_trace(settings: Settings) -> None:
    application = fresh_app(settings)

    @application.get("/api/test-only/explode")
    async def explode() -> None:
        raise RuntimeError("db password is hunter2")

    async with serving(application, raise_app_exceptions=False) as client:
        response = await client.get("/api/test-only/explode")
        assert is_problem(response, 500, "internal_error"), response.text
        assert "hunter2" not in response.text and "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        # The app goes on serving.
        assert (await client.get("/healthz")).status_code == 200


async def test_body_over_the_limit_is_413_with_or_without_content_length(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    limit = runtime_of(app).settings.max_body_bytes
    big = b'{"email": "big@example.com", "password": "' + b"x" * (limit + 10) + b'"}'
    json_type = {"Content-Type": "application/json"}
    declared = await client.post("/api/auth/register", content=big, headers=json_type)
    assert is_problem(declared, 413, "payload_too_large"), declared.text

    async def chunks() -> AsyncIterator[bytes]:  # streamed: no Content-Length to check up front
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    streamed = await client.post("/api/auth/register", content=chunks(), headers=json_type)
    assert is_problem(streamed, 413, "payload_too_large"), (streamed.status_code, streamed.text)
    form = await client.post("/api/auth/token",
                             data={"username": "a@example.com", "password": "x" * (limit + 1)})
    assert is_problem(form, 413, "payload_too_large"), form.text


async def test_a_body_under_the_limit_still_works_when_streamed(client: httpx.AsyncClient) -> None:
    body = b'{"email": "streamed-%s@example.com", "password": "%s"}' % (uuid.uuid4().hex[:10].encode(),
                                                                        PASSWORD.encode())

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        yield body[10:]

    response = await client.post("/api/auth/register", content=chunks(),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


async def test_malformed_bodies_are_4xx_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    cases: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", "/api/auth/register", b"[" * 20000 + b"]" * 20000, json_type),  # deep nesting
        ("POST", "/api/auth/register", b'{"email": "a@b.c", "password": "' + b"\x00" * 20 + b'"}', json_type),
        ("POST", "/api/auth/register", b"email=a@b.c&password=12345678",
         {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/api/auth/register", b"{}", {"Content-Type": "text/plain"}),
        ("POST", "/api/auth/token", b"username=%zz&password=%", form_type),
        ("POST", "/api/auth/token", b"--x\r\ngarbage", {"Content-Type": "multipart/form-data"}),
        ("POST", "/api/auth/token", b"--x\r\ngarbage", {"Content-Type": "multipart/form-data; boundary=x"}),
        ("POST", "/api/auth/token", b"&".join(b"f%d=1" % i for i in range(3000)),
         {"Content-Type": "application/x-www-form-urlencoded"}),
        ("PATCH", "/api/admin/users/1", b'{"role": ', {**json_type, **operator.headers}),
        ("PATCH", "/api/admin/users/1", b'{"role": 7}', {**json_type, **operator.headers}),
        ("POST", "/api/admin/drops", b'{"sku": []}', {**json_type, **operator.headers}),
        ("POST", "/api/admin/drops", b"\xff\xfe\xfd", {**json_type, **operator.headers}),
    ]
    for method, path, body, headers in cases:
        response = await client.request(method, path, content=body, headers=headers)
        assert 400 <= response.status_code < 500, (method, path, body[:40], response.text)
        assert is_problem(response, response.status_code), (path, body[:40], response.text)
    response = await client.get("/api/drops/not-a-number")
    assert is_problem(response, 404, "drop_not_found"), response.text  # no such drop can exist


async def test_ids_beyond_the_column_range_are_4xx(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    for path in ("/api/drops/3000000000", "/api/admin/drops/3000000000/stats",
                 "/api/drops/99999999999999999999999999", "/api/admin/drops/99999999999999999999999/stats"):
        response = await client.get(path, headers=operator.headers)
        assert is_problem(response, 404, "drop_not_found"), response.text


async def test_a_browser_gets_an_html_404_and_scripts_a_problem(client: httpx.AsyncClient) -> None:
    page = await client.get("/no-such-page", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Content-Security-Policy" in page.headers and "Not found" in page.text
    assert is_problem(await client.get("/no-such-page"), 404, "not_found")
    assert is_problem(await client.get("/api/no-such", headers={"Accept": "text/html"}), 404, "not_found")
