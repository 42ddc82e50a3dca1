"""Drop creation, schedules in several zones, and bad input on the purchase path."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from sale.repository import DropRepository
from sale.schedule import next_weekly_slot, weekly_slots
from tests.support import create_drop, is_problem, iso, make_account, now, runtime_of, services_of

TUESDAY = 1


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Sydney",
                                  "Asia/Kolkata", "UTC"])
def test_default_start_is_next_tuesday_noon_local(zone: str) -> None:
    tz = ZoneInfo(zone)
    for days in range(0, 400, 3):  # a year of starting points, across every DST change
        at = datetime(2026, 1, 1, 7, 30, tzinfo=UTC) + timedelta(days=days, hours=days % 24)
        slot = next_weekly_slot(at, TUESDAY, time(12, 0), tz)
        local = slot.astimezone(tz)
        assert (local.weekday(), local.hour, local.minute) == (TUESDAY, 12, 0)
        assert at < slot <= at + timedelta(days=7, hours=1)


def test_weekly_slots_keep_local_noon_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    slots = weekly_slots(datetime(2026, 3, 20, tzinfo=UTC), 3, TUESDAY, time(12, 0), berlin)
    assert [s.astimezone(berlin).hour for s in slots] == [12, 12, 12]
    # Summer time begins on 29 March 2026: the same local noon is one hour earlier in UTC.
    assert [s.hour for s in slots] == [11, 10, 10]


def test_tuesday_before_noon_is_today_after_noon_next_week() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    morning = datetime(2026, 11, 24, 9, 0, tzinfo=shanghai)  # a Tuesday
    assert next_weekly_slot(morning, TUESDAY, time(12, 0), shanghai) == datetime(2026, 11, 24, 12, 0, tzinfo=shanghai)
    afternoon = datetime(2026, 11, 24, 12, 0, tzinfo=shanghai)
    assert next_weekly_slot(afternoon, TUESDAY, time(12, 0), shanghai) == datetime(2026, 12, 1, 12, 0,
                                                                                   tzinfo=shanghai)


async def test_create_defaults_and_validation(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    base = {"sku": "mi-9", "name": "Mi 9", "price_cents": 299900, "currency": "cny", "stock": 5}
    response = await client.post("/api/admin/drops", json=base, headers=operator.headers)
    assert response.status_code == 201, response.text
    drop = response.json()
    starts = datetime.fromisoformat(drop["starts_at"])
    local = starts.astimezone(ZoneInfo("Asia/Shanghai"))
    assert (local.weekday(), local.hour, local.minute) == (TUESDAY, 12, 0)
    assert datetime.fromisoformat(drop["ends_at"]) - starts == timedelta(hours=1)
    assert (drop["currency"], drop["per_user_limit"], drop["pay_window_seconds"], drop["phase"]) == (
        "CNY", 1, 1800, "upcoming")
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["remaining"] == 5
    bad = [
        {**base, "stock": 0}, {**base, "price_cents": -1}, {**base, "currency": "yuan"}, {**base, "sku": ""},
        {**base, "starts_at": iso(now()), "ends_at": iso(now() - timedelta(minutes=1))},
        {**base, "ends_at": iso(now() - timedelta(minutes=1)), "starts_at": iso(now() - timedelta(hours=1))},
        {**base, "starts_at": "tomorrow"}, {**base, "starts_at": "2026-12-01T12:00:00"},  # no offset
        {**base, "surprise": 1}, {k: v for k, v in base.items() if k != "stock"},
    ]
    for body in bad:
        r = await client.post("/api/admin/drops", json=body, headers=operator.headers)
        assert is_problem(r, 422), (body, r.status_code, r.text)
    assert is_problem(await client.get("/api/drops/999999"), 404, "drop_not_found")
    assert is_problem(await client.get("/api/drops/abc"), 404, "drop_not_found")


async def test_purchase_bad_input_changes_no_stock(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=5, per_user_limit=2)
    url = f"/api/drops/{drop['id']}/purchase"
    h = buyer.headers
    cases: list[tuple[dict[str, object], int, str]] = [
        ({"content": b"{not json"}, 422, "validation_error"),
        ({"content": b"[1]"}, 422, "validation_error"),
        ({"json": {"quantity": 0}}, 422, "validation_error"),
        ({"json": {"quantity": -3}}, 422, "validation_error"),
        ({"json": {"quantity": 1.5}}, 422, "validation_error"),
        ({"json": {"quantity": "1"}}, 422, "validation_error"),
        ({"json": {"quantity": True}}, 422, "validation_error"),
        ({"json": {"quantity": 10**30}}, 422, "validation_error"),
        ({"json": {"quantity": 3}}, 422, "validation_error"),  # over per_user_limit
        ({"json": {"quantity": 1, "extra": 1}}, 422, "validation_error"),
        ({"json": {"quantity": 1, "fcode": 7}}, 422, "validation_error"),
        ({"content": b"x" * 200_000}, 413, "payload_too_large"),
    ]
    for kwargs, status, code in cases:
        r = await client.post(url, headers={**h, "Content-Type": "application/json"}, **kwargs)  # type: ignore[arg-type]
        assert is_problem(r, status, code), (kwargs.get("json"), r.status_code, r.text)
    assert is_problem(await client.post("/api/drops/999999/purchase", json={}, headers=h), 404, "drop_not_found")
    assert is_problem(await client.post("/api/drops/nope/purchase", json={}, headers=h), 404, "drop_not_found")
    assert is_problem(await client.post(url, json={"quantity": 1}), 401, "unauthorized")
    assert is_problem(await client.post(url, json={"quantity": 1}, headers={"Authorization": "Bearer x.y.z"}),
                      401, "unauthorized")
    too_long_key = {**h, "Idempotency-Key": "k" * 500}
    assert is_problem(await client.post(url, json={"quantity": 1}, headers=too_long_key), 422)
    for order_id in ("nope", "1-", "-x", "99999-abc", f"{drop['id']}-" + "0" * 20):
        for path in (f"/api/orders/{order_id}", f"/api/orders/{order_id}/cancel", f"/api/orders/{order_id}/pay"):
            method = client.get if path.endswith(order_id) else client.post
            kwargs = {"json": {"payment_token": "test_ok"}} if path.endswith("/pay") else {}
            r = await method(path, headers=h, **kwargs)  # type: ignore[operator]
            assert is_problem(r, 404, "order_not_found"), (path, r.text)
    # An empty body means one unit.
    assert (await client.post(url, headers=h)).status_code == 201
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (stats["remaining"], stats["reserved"]) == (4, 1)
    assert stats["rejected"].get("validation_error") == 1  # the over-limit quantity reached the gate


async def test_a_sweep_that_read_sql_before_a_new_drop_does_not_unlist_it(app: FastAPI,
                                                                          client: httpx.AsyncClient) -> None:
    """The sweeper reads the catalog's version, then SQL, then syncs: a drop committed and listed in
    between must stay listed (the stale sync is skipped, the next one has the drop)."""
    catalog = services_of(app).catalog
    seen = await catalog.version()
    async with runtime_of(app).sessions() as session:
        before = await DropRepository(session).not_ended(now() - timedelta(hours=1))
    operator = await make_account(app, "operator")
    created = await create_drop(client, operator)
    assert not await catalog.sync(before, seen)
    assert created["id"] in [d["id"] for d in (await client.get("/api/drops")).json()]
