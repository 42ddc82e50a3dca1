"""The operator's controls of a drop (issue 23): pause and resume, live stock, edits, a message,
clone and cancel, on both back ends; every admin route needs the operator's role."""
from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from sale.models import Drop, Order
from tests.support import (
    Account,
    buy,
    create_drop,
    eventually,
    is_problem,
    iso,
    make_account,
    make_accounts,
    now,
    pay,
    purchase,
    runtime_of,
    services_of,
    stats,
)
from tests.support.queue import join, keys, room, ticket


async def sql_drop(app: FastAPI, drop_id: int) -> Drop:
    async with runtime_of(app).sessions() as session:
        drop = await session.get(Drop, drop_id)
    assert drop is not None
    return drop


def admin_calls(drop_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/api/admin/drops/{drop_id}"
    return [("POST", f"{base}/pause", None), ("POST", f"{base}/resume", None),
            ("PATCH", base, {"stock_delta": 1}), ("POST", f"{base}/message", {"text": "hi"}),
            ("POST", f"{base}/clone", {}), ("POST", f"{base}/cancel", {}),
            ("GET", "/api/admin/orders", None), ("GET", f"{base}/orders.csv", None),
            ("GET", "/api/admin/audit", None)]


async def test_every_admin_route_needs_an_operator(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    shopper, employee = await make_account(app), await make_account(app, "employee")
    drop = await create_drop(client, operator)
    for method, url, body in admin_calls(drop["id"]):
        assert is_problem(await client.request(method, url, json=body), 401, "unauthorized"), url
        for account in (shopper, employee):
            answer = await client.request(method, url, json=body, headers=account.headers)
            assert is_problem(answer, 403, "forbidden"), (url, account.role, answer.text)
    after = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert (after["paused"], after["stock"], after["notice"], after["phase"]) == (False, 10, None, "open")
    for method, url, body in admin_calls(999_999)[:6]:
        assert is_problem(await client.request(method, url, json=body, headers=operator.headers), 404,
                          "drop_not_found"), url


async def test_pause_refuses_purchases_until_resumed(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 3)
    drop = await create_drop(client, operator, stock=5)
    await buy(client, buyers[0], drop["id"])
    paused = await client.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers)
    assert paused.status_code == 200 and paused.json()["paused"] is True, paused.text
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["paused"] is True
    listed = {d["id"]: d for d in (await client.get("/api/drops")).json()}
    assert listed[drop["id"]]["paused"] is True and listed[drop["id"]]["phase"] == "open"
    assert is_problem(await purchase(client, drop["id"], buyers[1].headers), 403, "drop_paused")
    # A retry of a purchase made before the pause still answers its order; nothing new is taken.
    assert (await stats(client, operator.headers, drop["id"]))["rejected"] == {"drop_paused": 1}
    assert (await sql_drop(app, drop["id"])).paused is True
    again = await client.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers)
    assert again.status_code == 200 and again.json()["paused"] is True  # idempotent
    resumed = await client.post(f"/api/admin/drops/{drop['id']}/resume", headers=operator.headers)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    await buy(client, buyers[1], drop["id"])
    assert (await sql_drop(app, drop["id"])).paused is False


async def test_a_pause_survives_redis_losing_the_drop(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=5)
    await client.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers)
    await client.post(f"/api/admin/drops/{drop['id']}/message", json={"text": "Back at 12:30"},
                      headers=operator.headers)
    runtime = runtime_of(app)
    await runtime.redis.delete(*runtime.keys.drop(drop["id"]).all_keys())  # a fresh or flushed Redis
    assert is_problem(await purchase(client, drop["id"], buyer.headers), 403, "drop_paused")
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert (shown["paused"], shown["notice"], shown["remaining"]) == (True, "Back at 12:30", 5)
    await client.post(f"/api/admin/drops/{drop['id']}/resume", headers=operator.headers)
    await buy(client, buyer, drop["id"])


async def test_a_paused_waiting_room_admits_nobody(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 3)
    drop = await room(client, operator, 1.0, admit_per_second=1000)
    for b in buyers:
        assert (await join(app, drop["id"], b)).status_code == 200
    assert (await client.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers)).status_code == 200
    await eventually(lambda: phase_is(client, drop["id"], "open"), timeout=5)  # the sale opens while paused
    tickets = [await ticket(client, drop["id"], b) for b in buyers]
    assert {t["status"] for t in tickets} == {"waiting"} and all(t["paused"] for t in tickets)
    counts = (await stats(client, operator.headers, drop["id"]))["queue"]
    assert counts["admitted"] == 0 and counts["waiting"] == 3
    await client.post(f"/api/admin/drops/{drop['id']}/resume", headers=operator.headers)
    tickets = [await ticket(client, drop["id"], b) for b in buyers]
    assert {t["status"] for t in tickets} == {"admitted"} and not any(t["paused"] for t in tickets)


async def test_stock_delta_moves_remaining_and_never_below_what_is_held(app: FastAPI,
                                                                       client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 4)
    drop = await create_drop(client, operator, stock=3)
    url = f"/api/admin/drops/{drop['id']}"
    order = await buy(client, buyers[0], drop["id"])
    await pay(client, buyers[0], order["id"])
    await buy(client, buyers[1], drop["id"])
    more = await client.patch(url, json={"stock_delta": 4}, headers=operator.headers)
    assert more.status_code == 200 and (more.json()["stock"], more.json()["remaining"]) == (7, 5), more.text
    assert is_problem(await client.patch(url, json={"stock_delta": -6}, headers=operator.headers), 409,
                      "stock_conflict")
    assert is_problem(await client.patch(url, json={"stock_delta": -100}, headers=operator.headers), 409,
                      "stock_conflict")
    fewer = await client.patch(url, json={"stock_delta": -5}, headers=operator.headers)
    assert fewer.status_code == 200 and (fewer.json()["stock"], fewer.json()["remaining"]) == (2, 0)
    assert fewer.json()["phase"] == "sold_out"
    assert is_problem(await purchase(client, drop["id"], buyers[2].headers), 409, "sold_out")
    counters = await stats(client, operator.headers, drop["id"])
    assert (counters["stock"], counters["reserved"], counters["paid"]) == (2, 1, 1)
    assert counters["sold_out_at"] is not None
    assert (await sql_drop(app, drop["id"])).stock == 2
    back = await client.patch(url, json={"stock_delta": 1}, headers=operator.headers)
    assert back.json()["remaining"] == 1
    assert (await stats(client, operator.headers, drop["id"]))["sold_out_at"] is None
    # This worker's sold-out flag (half a second, its own clock) refuses at once until it is over.
    async def bought() -> bool:
        answer = await purchase(client, drop["id"], buyers[2].headers)
        assert answer.status_code == 201 or is_problem(answer, 409, "sold_out"), answer.text
        return answer.status_code == 201

    await eventually(bought, timeout=5)


async def test_stock_changes_keep_the_invariant_under_concurrent_buying(app: FastAPI,
                                                                        client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 300)
    drop = await create_drop(client, operator, stock=100, per_user_limit=1)
    url = f"/api/admin/drops/{drop['id']}"
    deltas = [random.choice([-7, -3, 2, 5, 9]) for _ in range(40)]
    applied: list[int] = []

    async def operate() -> None:
        for delta in deltas:
            answer = await client.patch(url, json={"stock_delta": delta}, headers=operator.headers)
            assert answer.status_code in (200, 409), answer.text
            if answer.status_code == 200:
                applied.append(delta)
            await stats(client, operator.headers, drop["id"])  # the invariant holds at every read
            await asyncio.sleep(0.005)

    async def shop(buyer: Account) -> int:
        await asyncio.sleep(random.random() * 0.3)
        return (await purchase(client, drop["id"], buyer.headers)).status_code

    codes = await asyncio.gather(operate(), *(shop(b) for b in buyers))
    sold = sum(code == 201 for code in codes[1:])
    assert set(codes[1:]) <= {201, 409}
    final = await stats(client, operator.headers, drop["id"])
    assert final["stock"] == 100 + sum(applied) == (await sql_drop(app, drop["id"])).stock
    assert final["reserved"] == sold and final["remaining"] == final["stock"] - sold


async def test_patch_edits_validated_and_shown(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 2)
    start = now() + timedelta(minutes=30)
    drop = await create_drop(client, operator, stock=5, per_user_limit=1, starts_at=iso(start),
                             ends_at=iso(start + timedelta(hours=1)))
    url = f"/api/admin/drops/{drop['id']}"
    bad: list[dict[str, Any]] = [
        {}, {"name": None}, {"name": ""}, {"description": "a\u202eb"}, {"per_user_limit": 0}, {"admit_per_second": 0},
        {"ends_at": iso(start - timedelta(minutes=1))}, {"ends_at": iso(now() - timedelta(minutes=1))},
        {"starts_at": iso(start + timedelta(hours=2))}, {"ends_at": "soon"}, {"stock_delta": 10**9},
        {"stock_delta": 1.5}, {"name": "a\u202eb"}, {"variant": "A"}, {"stock_delta": 1, "variant": "A"},
    ]
    for body in bad:
        assert is_problem(await client.patch(url, json=body, headers=operator.headers), 422), body
    unchanged = (await client.get(f"/api/drops/{drop['id']}")).json()
    times = ("starts_at", "ends_at", "priority_starts_at")  # the catalog keeps milliseconds
    assert {k: v for k, v in unchanged.items() if k not in times} == {
        **{k: v for k, v in drop.items() if k not in times}, "paused": False, "notice": None}
    assert [unchanged[t][:23] for t in times] == [drop[t][:23] for t in times]
    opens = now() - timedelta(seconds=1)
    changed = await client.patch(url, json={"name": "Mi Phone 15 (restock)", "per_user_limit": 2,
                                            "starts_at": iso(opens), "priority_minutes": 0,
                                            "ends_at": iso(opens + timedelta(minutes=20))}, headers=operator.headers)
    assert changed.status_code == 200, changed.text
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert (shown["name"], shown["per_user_limit"], shown["phase"]) == ("Mi Phone 15 (restock)", 2, "open")
    listed = {d["id"]: d for d in (await client.get("/api/drops")).json()}
    assert listed[drop["id"]]["name"] == "Mi Phone 15 (restock)"
    assert (await purchase(client, drop["id"], buyers[0].headers, quantity=2)).status_code == 201
    # Once open, the start cannot move; the end can.
    assert is_problem(await client.patch(url, json={"starts_at": iso(now() + timedelta(hours=1))},
                                         headers=operator.headers), 422)
    ended = await client.patch(url, json={"ends_at": iso(now() + timedelta(seconds=1))}, headers=operator.headers)
    assert ended.status_code == 200
    await eventually(lambda: phase_is(client, drop["id"], "ended"), timeout=5)
    assert is_problem(await purchase(client, drop["id"], buyers[1].headers), 403, "not_open")
    assert is_problem(await client.patch(url, json={"ends_at": iso(now() + timedelta(hours=1))},
                                         headers=operator.headers), 422)  # an ended drop is not changed
    record = await sql_drop(app, drop["id"])
    assert (record.name, record.per_user_limit) == ("Mi Phone 15 (restock)", 2)


async def test_a_message_shows_at_once_as_plain_text(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await room(client, operator, -1, stock=5)
    assert (await join(app, drop["id"], buyer)).status_code == 200
    url = f"/api/admin/drops/{drop['id']}/message"
    text = "<b>Payment provider slow</b> — 请稍候\nWe'll be back."
    posted = await client.post(url, json={"text": text}, headers=operator.headers)
    assert posted.status_code == 202 and posted.json()["notice"] == text, posted.text
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["notice"] == text
    assert (await ticket(client, drop["id"], buyer))["notice"] == text
    assert (await sql_drop(app, drop["id"])).notice == text
    assert (await runtime_of(app).redis.hget(keys(app, drop["id"]).inv, "notice")).decode() == text
    for body in ({"text": "x" * 501}, {"text": "bell\x07"}, {}, {"text": 5}):
        assert is_problem(await client.post(url, json=body, headers=operator.headers), 422), body
    cleared = await client.post(url, json={"text": ""}, headers=operator.headers)
    assert cleared.status_code == 202 and cleared.json()["notice"] is None
    assert (await ticket(client, drop["id"], buyer))["notice"] is None


async def operator_messages(client: httpx.AsyncClient, who: Account) -> list[str]:
    response = await client.get("/api/me/messages", headers=who.headers)
    assert response.status_code == 200, response.text
    return [m["text"] for m in response.json() if m["kind"] == "operator_message"]


async def test_a_message_reaches_the_reserved_and_the_waiting_line_not_the_paid_or_bystanders(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    holder, payer, bystander, waiting, gone = await make_accounts(app, 5)
    drop = await room(client, operator, -1, stock=5, admit_per_second=20)
    for buyer in (holder, payer, gone, waiting):
        assert (await join(app, drop["id"], buyer)).status_code == 200
    # Three are admitted and buy: `holder` keeps its reservation unpaid, `payer` and `gone` pay (their
    # tickets are done), so the line holds `waiting` alone (admitted, not buying).
    await eventually(lambda: _admitted(client, drop["id"], (holder, payer, gone, waiting)), timeout=10)
    reserved = await buy(client, holder, drop["id"])
    await pay(client, payer, (await buy(client, payer, drop["id"]))["id"])
    await pay(client, gone, (await buy(client, gone, drop["id"]))["id"])

    async def recorded() -> bool:
        async with runtime_of(app).sessions() as session:
            return await session.get(Order, reserved["id"]) is not None
    await eventually(recorded)
    url = f"/api/admin/drops/{drop['id']}/message"
    text = "Payment provider slow — 请稍候 {drop_name}"
    assert (await client.post(url, json={"text": text}, headers=operator.headers)).status_code == 202
    assert await operator_messages(client, holder) == [text]
    assert await operator_messages(client, waiting) == [text]
    for untouched in (payer, bystander, gone):
        assert await operator_messages(client, untouched) == []
    # Removing the notice sends nothing; a second posting is a second message.
    assert (await client.post(url, json={"text": ""}, headers=operator.headers)).status_code == 202
    assert (await client.post(url, json={"text": "Back soon"}, headers=operator.headers)).status_code == 202
    assert await operator_messages(client, holder) == ["Back soon", text]


async def _admitted(client: httpx.AsyncClient, drop_id: int, buyers: tuple[Account, ...]) -> bool:
    states = [(await ticket(client, drop_id, buyer))["status"] for buyer in buyers]
    return states == ["admitted"] * len(buyers)


async def test_a_message_on_an_upcoming_drop_reaches_those_reminded(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    reminded, other = await make_accounts(app, 2)
    drop = await create_drop(client, operator, starts_at=iso(now() + timedelta(hours=1)),
                             ends_at=iso(now() + timedelta(hours=2)))
    put = await client.put(f"/api/drops/{drop['id']}/reminder", json={"channels": ["email"]},
                           headers=reminded.headers)
    assert put.status_code == 200, put.text
    posted = await client.post(f"/api/admin/drops/{drop['id']}/message", json={"text": "Opens 10 minutes later"},
                               headers=operator.headers)
    assert posted.status_code == 202, posted.text
    assert await operator_messages(client, reminded) == ["Opens 10 minutes later"]
    assert await operator_messages(client, other) == []


async def test_a_message_on_a_sold_out_drop_reaches_its_waitlist(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyer, waiter = await make_accounts(app, 2)
    drop = await create_drop(client, operator, stock=1)
    await pay(client, buyer, (await buy(client, buyer, drop["id"]))["id"])
    joined = await client.put(f"/api/drops/{drop['id']}/waitlist", headers=waiter.headers)
    assert joined.status_code == 200, joined.text
    posted = await client.post(f"/api/admin/drops/{drop['id']}/message", json={"text": "More units at 13:00"},
                               headers=operator.headers)
    assert posted.status_code == 202, posted.text
    assert await operator_messages(client, waiter) == ["More units at 13:00"]
    assert await operator_messages(client, buyer) == []


async def test_clone_makes_an_upcoming_drop_with_the_same_settings(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    source = await room(client, operator, -60, stock=40, per_user_limit=3, priority_minutes=10, admit_per_second=7,
                        pay_window_seconds=600, name="小米 15 Ultra")
    await client.patch(f"/api/admin/drops/{source['id']}", json={"stock_delta": 2}, headers=operator.headers)
    await client.post(f"/api/admin/drops/{source['id']}/pause", headers=operator.headers)
    starts = now() + timedelta(days=2)
    cloned = await client.post(f"/api/admin/drops/{source['id']}/clone", json={"starts_at": iso(starts)},
                               headers=operator.headers)
    assert cloned.status_code == 201, cloned.text
    copy = cloned.json()
    assert copy["id"] != source["id"] and copy["phase"] == "upcoming" and copy["paused"] is False
    same = ("sku", "name", "price_cents", "currency", "per_user_limit", "pay_window_seconds", "waiting_room",
            "prequeue_minutes", "admit_per_second", "challenge", "priority_minutes", "image_url", "images")
    assert {k: copy[k] for k in same} == {k: source[k] for k in same}
    assert (copy["stock"], copy["remaining"]) == (42, 42)
    assert abs((datetime_of(copy["starts_at"]) - starts).total_seconds()) < 1
    assert datetime_of(copy["ends_at"]) - datetime_of(copy["starts_at"]) == timedelta(hours=1)
    assert copy["id"] in {d["id"] for d in (await client.get("/api/drops")).json()}
    default = await client.post(f"/api/admin/drops/{source['id']}/clone", headers=operator.headers)
    assert default.status_code == 201 and default.json()["phase"] == "upcoming"
    for body in ({"starts_at": iso(now() - timedelta(minutes=1))}, {"starts_at": iso(now() + timedelta(minutes=5))},
                 {"starts_at": "later"}, {"stock": 3}):
        answer = await client.post(f"/api/admin/drops/{source['id']}/clone", json=body, headers=operator.headers)
        assert is_problem(answer, 422), (body, answer.text)  # the 10 minutes' early access would have begun
    # The clones are loaded into Redis now (the listing does it), not by the sweeper during a later test
    # that counts SQL statements (tests/test_queue.py).
    assert default.json()["id"] in {d["id"] for d in (await client.get("/api/drops")).json()}


def datetime_of(text: str) -> Any:
    from datetime import datetime
    return datetime.fromisoformat(text)


async def test_cancel_ends_the_drop_and_gives_reservations_back(app: FastAPI, client: httpx.AsyncClient,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 5)
    drop = await create_drop(client, operator, stock=10, per_user_limit=2)
    orders = [await buy(client, b, drop["id"], quantity=2) for b in buyers[:4]]
    await pay(client, buyers[0], orders[0]["id"])
    asked: list[int] = []

    class Refunds:
        async def refund_paid_orders(self, drop_id: int, actor: object) -> None:
            asked.append(drop_id)

    monkeypatch.setattr(services_of(app).lifecycle, "refunds", Refunds())
    url = f"/api/admin/drops/{drop['id']}/cancel"
    cancelled = await client.post(url, json={"refund_paid": True}, headers=operator.headers)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["released"], body["refunds_requested"], body["drop"]["phase"]) == (3, True, "ended")
    assert asked == [drop["id"]]
    assert is_problem(await purchase(client, drop["id"], buyers[4].headers), 403, "not_open")
    counters = await stats(client, operator.headers, drop["id"])
    assert (counters["remaining"], counters["reserved"], counters["paid"], counters["cancelled"]) == (8, 0, 2, 6)
    for buyer, order in zip(buyers[1:4], orders[1:4], strict=True):
        assert (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()["status"] == "cancelled"
    assert drop["id"] not in {d["id"] for d in (await client.get("/api/drops")).json()}
    record = await sql_drop(app, drop["id"])
    assert record.cancelled_at is not None

    async def sql_cancelled() -> bool:
        async with runtime_of(app).sessions() as session:
            rows = (await session.execute(select(Order).where(Order.drop_id == drop["id"]))).scalars().all()
        return sorted(r.status for r in rows) == ["cancelled", "cancelled", "cancelled", "paid"]

    await eventually(sql_cancelled)
    again = await client.post(url, headers=operator.headers)  # idempotent
    assert again.status_code == 200 and again.json()["released"] == 0 and again.json()["refunds_requested"] is False
    assert is_problem(await client.post(f"/api/admin/drops/{drop['id']}/pause", headers=operator.headers), 422)


async def test_concurrent_changes_of_one_drop_apply_one_at_a_time(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The drop's row is locked before it is read: twenty stock changes at once lose none, and each
    pause or resume in between leaves SQL and Redis agreeing."""
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=10)
    url = f"/api/admin/drops/{drop['id']}"
    calls = [client.patch(url, json={"stock_delta": 1}, headers=operator.headers) for _ in range(20)]
    calls += [client.post(f"{url}/{'pause' if i % 2 else 'resume'}", headers=operator.headers) for i in range(6)]
    answers = await asyncio.gather(*calls)
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers if a.status_code != 200]
    record = await sql_drop(app, drop["id"])
    inv = await runtime_of(app).redis.hmget(keys(app, drop["id"]).inv, "stock", "remaining", "paused")
    assert record.stock == 30 and inv[:2] == [b"30", b"30"]
    assert inv[2] == (b"1" if record.paused else b"0")


async def phase_is(client: httpx.AsyncClient, drop_id: int, phase: str) -> bool:
    return bool((await client.get(f"/api/drops/{drop_id}")).json()["phase"] == phase)
