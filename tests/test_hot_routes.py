"""The calls a rush makes by the thousand (drop list, drop page, payment) are plain routes: matched
first, documented like the others, and answering bad input with the same problems as before; a drop
that Redis does not hold yet is built once however many pollers ask at the same moment."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from starlette.routing import Match

from tests.support import create_drop, is_problem, make_account, purchase, runtime_of

HOT = [("GET", "/api/drops", "/api/drops"), ("GET", "/api/drops/7", "/api/drops/{drop_id}"),
       ("POST", "/api/orders/7-abc/pay", "/api/orders/{order_id}/pay")]


def test_hot_routes_are_matched_first_and_documented(app: FastAPI) -> None:
    document = app.openapi()
    for method, path, template in HOT:
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        matching = [route for route in app.router.routes if route.matches(scope)[0] == Match.FULL]
        assert len(matching) == 1, template
        assert app.router.routes.index(matching[0]) < 4, template  # ahead of every other route
        operation = document["paths"][template][method.lower()]
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert "OrderOut" in str(schema) if "pay" in template else "DropOut" in str(schema)
    assert {p["name"] for p in document["paths"]["/api/drops/{drop_id}"]["get"]["parameters"]} == {"drop_id"}
    pay = document["paths"]["/api/orders/{order_id}/pay"]["post"]
    assert {p["name"] for p in pay["parameters"]} == {"order_id"}
    fields = set(pay["requestBody"]["content"]["application/json"]["schema"]["properties"])
    assert fields == {"payment_token", "provider", "address_id"}


async def test_pay_answers_bad_input_with_problems(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=2)
    order = (await purchase(client, drop["id"], buyer.headers)).json()
    url = f"/api/orders/{order['id']}/pay"
    assert is_problem(await client.post(url, content=b"{"), 401, "unauthorized")  # who asks comes first
    bad: list[bytes] = [b"", b"{", b"[]", b"{}", b'{"payment_token": ""}', b'{"payment_token": 7}',
                        b'{"payment_token": "test_ok", "card": "4111"}', b"\xff\xfe"]
    for body in bad:
        answer = await client.post(url, content=body, headers={**buyer.headers, "Content-Type": "application/json"})
        assert is_problem(answer, 422, "validation_error"), (body, answer.text)
        assert all(error["loc"][0] == "body" for error in answer.json()["errors"]), answer.text
    assert is_problem(await client.post("/api/orders/nope/pay", json={"payment_token": "test_ok"},
                                        headers=buyer.headers), 404, "order_not_found")
    paid = await client.post(url, json={"payment_token": "test_ok"}, headers=buyer.headers)
    assert paid.status_code == 200 and paid.json()["status"] == "paid", paid.text
    assert paid.headers["content-type"] == "application/json"


async def test_a_drop_missing_from_redis_is_built_once_for_a_crowd_of_pollers(app: FastAPI,
                                                                           client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=7)
    runtime = runtime_of(app)
    k = runtime.keys.drop(drop["id"])
    await runtime.redis.delete(k.inv, k.users, k.orders, k.deadlines)  # as a fresh or emptied Redis
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        values = parameters.values() if isinstance(parameters, dict) else parameters or ()
        if "FROM orders" in statement and "orders.drop_id =" in statement and drop["id"] in tuple(values):
            reads.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
    try:
        answers = await asyncio.gather(*[client.get(f"/api/drops/{drop['id']}") for _ in range(40)],
                                       *[client.get("/api/drops") for _ in range(10)])
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
    assert all(answer.status_code == 200 for answer in answers)
    assert {answer.json()["remaining"] for answer in answers[:40]} == {7}
    assert all(d["remaining"] == 7 for answer in answers[40:] for d in answer.json() if d["id"] == drop["id"])
    # One SQL read of the drop's orders, not one per poller (the sweeper, finding the state missing
    # just before the crowd built it, may read once more on its own).
    assert len(reads) <= 2, reads
    assert (await runtime.redis.hget(k.inv, "remaining")) == b"7"
