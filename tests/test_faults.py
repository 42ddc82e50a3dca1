"""Faults on cue, on both back ends: the database away mid-sale, Redis cut, Redis restarted from its
append-only file. Buyers keep buying and paying through a database outage; nothing acknowledged is
lost or doubled; no answer is a 500. Each test prints how long buyers saw 503s (run with -s)."""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import event

from core.embedded_redis import EmbeddedRedis
from core.settings import Settings
from sale import payment
from sale.payments import refunds as refunds_module
from tests.support import (
    SERVICES,
    create_drop,
    eventually,
    make_account,
    make_accounts,
    runtime_of,
    services_of,
    sync_redis,
)
from tests.support.clock import Manual
from tests.support.faults import Faulty, Tally, buy_and_pay, faulty_service, report, settled, sql_state

pytestmark = pytest.mark.cluster  # its Redis cuts need a Redis of their own when the session's is a Cluster

OUTAGE_SECONDS = float(os.environ.get("FLASHSALE_TEST_OUTAGE_SECONDS", "4"))


@pytest.fixture(scope="module")
async def faulty(settings: Settings, database_url: str, redis_url: str,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Faulty]:
    sqlite_path = None if SERVICES else Path(database_url.split(":///", 1)[1])
    own: EmbeddedRedis | None = None
    if isinstance(sync_redis(redis_url), redis.RedisCluster):
        # A cluster client connects to every node the cluster names, around one proxy: these cuts
        # are made on a Redis of their own (tests/test_failover.py takes a cluster's primary away).
        own = EmbeddedRedis(tmp_path_factory.mktemp("faulty-redis"))
        redis_url = own.start()
    try:
        async with faulty_service(settings, database_url, redis_url, tmp_path_factory.mktemp("faulty"),
                                  sqlite_path) as service:
            yield service
    finally:
        if own is not None:
            own.stop()


@pytest.mark.slow  # a real outage of seconds (the connection cut at a proxy), on real time
async def test_database_outage_mid_sale_loses_nothing(faulty: Faulty) -> None:
    app, client = faulty.app, faulty.client
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 120)
    drop = await create_drop(client, operator, stock=100)
    tally = Tally()
    await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[:20]))
    shopper = await make_account(app)
    assert (await client.get("/healthz")).json()["status"] == "ok"
    paid_before = set(tally.share_urls)

    # In a thread: SQLite's lock holder may wait for the service's own writer, whose commit needs this loop.
    await asyncio.to_thread(faulty.database.cut)
    cut_at = time.monotonic()
    try:
        arrivals = []
        for i, buyer in enumerate(buyers[20:110]):
            # Buyers arrive all through the outage; a tenth walk away without paying.
            arrivals.append(asyncio.ensure_future(buy_and_pay(client, drop["id"], buyer, tally, pay=i % 10 != 0)))
            await asyncio.sleep(OUTAGE_SECONDS / 2 / 90)
        await asyncio.gather(*arrivals)
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "degraded", health.text
        if SERVICES:
            assert health.json()["database"] == "down"
        listed = await client.get("/api/drops")
        assert listed.status_code == 200 and drop["id"] in [d["id"] for d in listed.json()]
        page = await client.get(f"/api/drops/{drop['id']}")
        assert page.status_code == 200 and page.json()["remaining"] == 100 - len(tally.acknowledged)
        # A link paid during the outage works at once, from Redis.
        paid_during = [url for oid, url in tally.share_urls.items() if oid not in paid_before]
        assert len(paid_during) >= 70
        share = await client.get(paid_during[-1].removeprefix("http://testserver"))
        assert share.status_code == 200 and 'property="og:image"' in share.text
        # What truly needs SQL answers 503 with Retry-After, never a 500.
        needs_sql = [
            await client.post("/api/auth/register", json={"email": f"n-{uuid.uuid4().hex[:8]}@example.com",
                                                           "password": "Correct-horse-1"}),
            await client.post("/api/admin/drops", headers=operator.headers,
                              json={"sku": "x-1", "name": "X", "price_cents": 1, "currency": "CNY", "stock": 1}),
        ]
        if SERVICES:  # a write lock leaves SQLite's reads alone: logging in still works there
            needs_sql.append(await client.post("/api/auth/token", data={"username": shopper.email,
                                                                       "password": "Correct-horse-1"}))
        for answer in needs_sql:
            assert answer.status_code == 503, answer.text
            assert answer.json()["code"] == "service_unavailable" and answer.headers["retry-after"]
        remaining_outage = OUTAGE_SECONDS - (time.monotonic() - cut_at)
        if remaining_outage > 0:
            await asyncio.sleep(remaining_outage)
    finally:
        faulty.database.restore()
    await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[110:]))

    async def sql_caught_up() -> bool:
        outcome = await settled(app, drop["id"], tally)
        return not outcome.lost and not outcome.doubled

    await eventually(sql_caught_up, timeout=30, interval=0.25)
    outcome = await settled(app, drop["id"], tally)
    report(f"database outage {OUTAGE_SECONDS:.0f} s, {faulty.database.label}", tally, len(outcome.lost),
           len(outcome.doubled))
    assert not tally.server_errors() and not tally.missing_retry_after
    assert not tally.unavailable_at, "buyers must not see 503s while only the database is down"
    assert sum(1 for s in tally.acknowledged.values() if s == "paid") >= 90
    assert (await client.get("/healthz")).json()["status"] == "ok"


async def test_the_listing_goes_on_without_a_drop_whose_state_needs_the_database(faulty: Faulty) -> None:
    app, client = faulty.app, faulty.client
    operator = await make_account(app, "operator")
    held = await create_drop(client, operator, stock=3)
    lost = await create_drop(client, operator, stock=4)
    assert (await client.get(f"/api/drops/{held['id']}")).json()["remaining"] == 3
    runtime = runtime_of(app)
    # In a thread: SQLite's lock holder may wait for the service's own writer, whose commit needs this loop.
    await asyncio.to_thread(faulty.database.cut)
    try:
        k = runtime.keys.drop(lost["id"])
        await runtime.redis.delete(k.inv, k.users, k.orders, k.deadlines)  # Redis lost this drop's state
        listed = await client.get("/api/drops")
        assert listed.status_code == 200, listed.text
        ids = [d["id"] for d in listed.json()]
        assert held["id"] in ids
        page = await client.get(f"/api/drops/{lost['id']}")
        if SERVICES:  # the others list; this one cannot be known without SQL
            assert lost["id"] not in ids
            assert page.status_code == 503 and page.headers["retry-after"], page.text
        else:  # a write lock leaves SQLite's reads alone: the state is rebuilt at once
            assert lost["id"] in ids and page.json()["remaining"] == 4
    finally:
        faulty.database.restore()

    async def listed_again() -> bool:
        answer = await client.get("/api/drops")
        return answer.status_code == 200 and any(d["id"] == lost["id"] and d["remaining"] == 4
                                                 for d in answer.json())

    await eventually(listed_again, timeout=10, interval=0.25)


@pytest.mark.slow  # a real outage of seconds (the connection cut at a proxy), on real time
async def test_redis_cut_answers_503_then_the_sale_goes_on(faulty: Faulty) -> None:
    app, client = faulty.app, faulty.client
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 60)
    drop = await create_drop(client, operator, stock=50)
    tally = Tally()
    await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[:10]))
    faulty.redis_proxy.cut()
    cut_for = min(OUTAGE_SECONDS, 3.0)
    try:
        loop = asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally, attempts=200)
                                for b in buyers[10:50]))
        await asyncio.sleep(cut_for / 2)
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["redis"] == "down"
        await asyncio.sleep(cut_for / 2)
    finally:
        faulty.redis_proxy.restore()
    await loop
    await asyncio.gather(*(buy_and_pay(client, drop["id"], b, tally) for b in buyers[50:]))
    try:
        await eventually(lambda: _settled_clean(faulty, drop["id"], tally), timeout=30, interval=0.25)
    finally:  # on a timeout, what was still lost or doubled is in the failure's output
        outcome = await settled(app, drop["id"], tally)
        report(f"Redis cut {cut_for:.0f} s", tally, len(outcome.lost), len(outcome.doubled))
        print("lost:", outcome.lost[:20], "doubled:", outcome.doubled[:20])
    assert tally.unavailable_at and not tally.server_errors() and not tally.missing_retry_after
    assert sum(1 for s in tally.acknowledged.values() if s == "paid") == 50  # everybody got one, sold out


async def _settled_clean(faulty: Faulty, drop_id: int, tally: Tally) -> bool:
    outcome = await settled(faulty.app, drop_id, tally)
    return not outcome.lost and not outcome.doubled


@asynccontextmanager
async def charge_held(provider: payment.TestProvider) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """The provider's charge waits (after the order's payment hold was taken) until the test lets it
    finish: a late charge at a moment the test chooses, not after a real delay."""
    charging, finish = asyncio.Event(), asyncio.Event()
    charge = provider.charge

    async def held(*, order_id: str, amount_cents: int, currency: str, token: str) -> payment.ChargeResult:
        charging.set()
        await finish.wait()
        return await charge(order_id=order_id, amount_cents=amount_cents, currency=currency, token=token)

    provider.charge = held  # type: ignore[method-assign]
    try:
        yield charging, finish
    finally:
        del provider.charge  # the class's own again
        finish.set()


async def _outlive_the_lease(manual: Manual, buyer_headers: dict[str, str], other_headers: dict[str, str],
                             drop_id: int, order_id: str) -> httpx.Response:
    """Pays, and while the charge is out, steps past the payment lease and the pay-by: the sweeper puts
    the unit back and it sells to someone else; then the charge succeeds. The pay request's answer."""
    provider = services_of(manual.app).orders.provider
    assert isinstance(provider, payment.TestProvider)
    client = manual.client
    async with charge_held(provider) as (charging, finish):
        paying = asyncio.ensure_future(client.post(f"/api/orders/{order_id}/pay",
                                                   json={"payment_token": "test_ok"}, headers=buyer_headers))
        await asyncio.wait_for(charging.wait(), timeout=5)
        manual.clock.advance(runtime_of(manual.app).settings.payment_lease_seconds + 2)

        async def sold_again() -> bool:  # the unit went back meanwhile and sells to someone else
            r = await client.post(f"/api/drops/{drop_id}/purchase", headers=other_headers)
            return r.status_code == 201

        await eventually(sold_again, timeout=5, interval=0.1)
        finish.set()
        return await paying


async def test_a_charge_that_outlived_its_lease_is_refunded(manual: Manual) -> None:
    app, client = manual.app, manual.client
    operator, buyer, other = await make_account(app, "operator"), await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=1, pay_window_seconds=1)
    order = (await client.post(f"/api/drops/{drop['id']}/purchase", headers=buyer.headers)).json()
    provider = services_of(app).orders.provider
    assert isinstance(provider, payment.TestProvider)
    late = await _outlive_the_lease(manual, buyer.headers, other.headers, drop["id"], order["id"])
    assert late.status_code == 409 and late.json()["code"] == "order_expired"
    assert "refunded" in late.json()["detail"]
    refund = next(r for r in provider.refunds.values() if r.order_id == order["id"])
    assert refund.amount_cents == order["amount_cents"]
    seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert (seen["status"], seen["refund_status"]) == ("refunded", "refunded") and seen["refunded_at"]
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (stats["paid"], stats["reserved"], stats["remaining"]) == (0, 1, 0)

    async def refund_in_sql() -> bool:
        orders, _ = await sql_state(app, drop["id"])
        row = next((o for o in orders if o.id == order["id"]), None)
        return row is not None and (row.status, row.refund_status) == ("refunded", "refunded")

    await eventually(refund_in_sql, timeout=10)


async def test_a_refund_the_provider_failed_is_retried_by_the_sweeper(manual: Manual) -> None:
    app, client = manual.app, manual.client
    operator, buyer, other = await make_account(app, "operator"), await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=1, pay_window_seconds=1)
    order = (await client.post(f"/api/drops/{drop['id']}/purchase", headers=buyer.headers)).json()
    services = services_of(app)
    provider = services.orders.provider
    assert isinstance(provider, payment.TestProvider)
    provider.refund_failures = 1  # the late charge's refund fails
    try:
        late = await _outlive_the_lease(manual, buyer.headers, other.headers, drop["id"], order["id"])
    finally:
        provider.refund_failures = 0
    assert late.status_code == 409 and late.json()["code"] == "order_expired"  # not a 500
    assert "will be refunded" in late.json()["detail"]
    assert not any(r.order_id == order["id"] for r in provider.refunds.values())
    seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
    assert seen["refund_status"] == "pending"

    assert await services.refunds.retry_late(drop["id"]) == 0  # not yet: the request may still be refunding
    manual.clock.advance(millis=refunds_module.REFUND_RETRY_AFTER_MS)

    async def refunded() -> bool:  # by the running sweeper
        seen = (await client.get(f"/api/orders/{order['id']}", headers=buyer.headers)).json()
        return bool(seen["refund_status"] == "refunded" and seen["refunded_at"])

    await eventually(refunded)
    assert await services.refunds.retry_late(drop["id"]) == 0  # once
    assert [r.order_id for r in provider.refunds.values()].count(order["id"]) == 1


async def test_drop_polls_cost_no_sql_and_operator_changes_show_at_once(faulty: Faulty) -> None:
    app, client = faulty.app, faulty.client
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=5)
    await client.get(f"/api/drops/{drop['id']}")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = runtime_of(app).engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(50):
            assert (await client.get("/api/drops")).status_code == 200
            assert (await client.get(f"/api/drops/{drop['id']}")).json()["remaining"] == 5
        # Only the background loops read SQL (the sweeper every 2 s): at most a handful, never 100.
        polls = [s for s in statements if "FROM drops" in s]
        assert len(polls) <= 6, polls
        created = await create_drop(client, operator, stock=3)
        assert created["id"] in [d["id"] for d in (await client.get("/api/drops")).json()]
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_paying_with_an_address_needs_no_database(faulty: Faulty) -> None:
    """The address a payment names is read from its Redis copy: paying with it goes on while the
    database is away (not one statement about addresses), and the order's row gets it once it's back."""
    app, client = faulty.app, faulty.client
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=3, shipping_required=True)
    address = await client.post("/api/me/addresses", headers=buyer.headers,
                                json={"name": "Kim Minji", "phone": "+82 10 1234 5678", "country": "KR",
                                      "city": "Seoul", "line1": "Teheran-ro 427", "postal_code": "06159"})
    assert address.status_code == 201, address.text
    order = (await client.post(f"/api/drops/{drop['id']}/purchase", json={"quantity": 1},
                               headers=buyer.headers)).json()
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = runtime_of(app).engine.sync_engine
    # In a thread: SQLite's lock holder may wait for the service's own writer, whose commit needs this loop.
    await asyncio.to_thread(faulty.database.cut)
    event.listen(engine, "before_cursor_execute", count)
    try:
        paid = await client.post(f"/api/orders/{order['id']}/pay", headers=buyer.headers,
                                 json={"payment_token": "test_ok", "address_id": address.json()["id"]})
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid" and paid.json()["shipping"]["line1"] == "Teheran-ro 427"
        assert not [s for s in statements if "addresses" in s], statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
        faulty.database.restore()

    async def recorded() -> bool:
        orders, _ = await sql_state(app, drop["id"])
        row = next((o for o in orders if o.id == order["id"]), None)
        return row is not None and row.status == "paid" and row.shipping is not None \
            and row.shipping.get("line1") == "Teheran-ro 427"

    await eventually(recorded, timeout=30, interval=0.25)
