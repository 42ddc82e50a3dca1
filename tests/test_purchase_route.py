"""The purchase URL has one route, and the API document describes it from that route."""
from __future__ import annotations

import httpx
from fastapi import FastAPI
from starlette.routing import Match

from tests.support import create_drop, is_problem, make_account

PATH = "/api/drops/{drop_id}/purchase"


def test_one_route_serves_and_documents_the_purchase(app: FastAPI) -> None:
    scope = {"type": "http", "method": "POST", "path": "/api/drops/7/purchase", "root_path": ""}
    matching = [route for route in app.router.routes if route.matches(scope)[0] == Match.FULL]
    assert len(matching) == 1
    assert app.router.routes[0] is matching[0]  # the hot path is matched first
    operation = app.openapi()["paths"][PATH]["post"]
    assert "201" in operation["responses"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/OrderOut")
    assert {p["name"] for p in operation["parameters"]} == {"drop_id", "Idempotency-Key"}
    assert set(operation["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {
        "quantity", "fcode", "ref", "variant"}


async def test_the_route_parses_the_request_before_the_sale_sees_it(app: FastAPI,
                                                                    client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=2)
    url = f"/api/drops/{drop['id']}/purchase"
    assert is_problem(await client.post(url, json={}), 401, "unauthorized")
    assert is_problem(await client.post("/api/drops/x/purchase", json={}, headers=buyer.headers), 404,
                      "drop_not_found")
    assert is_problem(await client.post(url, content=b"[1]", headers=buyer.headers), 422, "validation_error")
    assert is_problem(await client.post(url, json={"quantity": 1}, headers={**buyer.headers, "Idempotency-Key": ""}),
                      422, "validation_error")
    bought = await client.post(url, headers={**buyer.headers, "Idempotency-Key": "k-1"})  # no body: one unit
    assert bought.status_code == 201 and bought.json()["quantity"] == 1
