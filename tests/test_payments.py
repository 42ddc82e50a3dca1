"""Paying through Stripe and Alipay as they really behave, against their local stand-ins: the official
libraries in the service, signed notices delivered late, twice and out of order, close before release,
refunds, reconcile. Real Redis and database, a test clock."""
from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select

from core.metrics import REGISTRY
from sale.payments.models import PaymentEvent
from sale.payments.reconcile import PaymentReconciler
from tests.support import create_drop, eventually, is_problem, make_account, make_accounts, purchase, services_of, stats
from tests.support.payments import Paying


async def _reserved(p: Paying, stock: int = 1, pay_window: int = 60, **drop: Any) -> tuple[Any, Any, dict[str, Any]]:
    operator, buyer = await make_account(p.app, "operator"), await make_account(p.app)
    created = await create_drop(p.client, operator, stock=stock, pay_window_seconds=pay_window, **drop)
    order = (await purchase(p.client, created["id"], buyer.headers)).json()
    return operator, buyer, order


async def _order(p: Paying, buyer: Any, order_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = (await p.client.get(f"/api/orders/{order_id}", headers=buyer.headers)).json()
    return answer


async def test_stripe_pays_when_its_signed_webhook_arrives(paying: Paying) -> None:
    p = paying
    succeeded = ("flashsale_payments_total", {"provider": "stripe", "outcome": "succeeded"})
    before = REGISTRY.get_sample_value(*succeeded) or 0.0
    operator, buyer, order = await _reserved(p, currency="EUR")
    started = await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"}, headers=buyer.headers)
    assert started.status_code == 200, started.text
    body = started.json()
    payment = body["payment"]
    assert body["status"] == "reserved" and payment["provider"] == "stripe" and payment["status"] == "pending"
    assert payment["intent_id"].startswith("pi_") and payment["client_secret"].startswith(payment["intent_id"])
    # Calling again answers the same intent (nothing new is created at Stripe).
    again = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                 headers=buyer.headers)).json()
    assert again["payment"]["intent_id"] == payment["intent_id"]
    # The intent at Stripe, read with the official library: the order's amount, currency and id.
    client = p.stripe_client()
    intent = await client.v1.payment_intents.retrieve_async(payment["intent_id"])
    assert (intent.amount, intent.currency, intent.metadata["order_id"]) == (
        order["amount_cents"], "eur", order["id"])

    assert (await p.stripe_confirm(payment)).status_code == 200

    async def paid() -> bool:
        return (await _order(p, buyer, order["id"]))["status"] == "paid"

    await eventually(paid)
    seen = await _order(p, buyer, order["id"])
    assert seen["payment"]["status"] == "succeeded" and seen["share_url"]
    assert "client_secret" not in seen["payment"]  # nothing left to complete
    st = await stats(p.client, operator.headers, order["drop_id"])
    assert (st["paid"], st["reserved"]) == (1, 0)

    # The notice is recorded once, in SQL too (written by the order sink, off the webhook's answer).
    async def recorded() -> list[Any]:
        async with services_of(p.app).runtime.sessions() as session:
            found = await session.execute(select(PaymentEvent).where(PaymentEvent.intent == payment["intent_id"]))
            return list(found.scalars().all())

    async def one_row() -> bool:
        return [(e.kind, e.outcome, e.order_id) for e in await recorded()] == [("succeeded", "paid", order["id"])]

    await eventually(one_row)
    assert REGISTRY.get_sample_value(*succeeded) == before + 1  # the on-call's payment outcomes


async def test_a_declined_card_leaves_the_order_reserved_with_a_failed_payment(paying: Paying) -> None:
    p = paying
    _, buyer, order = await _reserved(p)
    payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                   headers=buyer.headers)).json()["payment"]
    await p.stripe_confirm(payment, "pm_card_chargeDeclined")

    async def failed() -> bool:
        seen = await _order(p, buyer, order["id"])
        return seen["status"] == "reserved" and seen["payment"]["status"] == "failed"

    await eventually(failed)
    await p.stripe_confirm(payment)  # another card on the same intent

    async def paid() -> bool:
        return (await _order(p, buyer, order["id"]))["status"] == "paid"

    await eventually(paid)


async def test_forged_stale_and_tampered_webhooks_change_nothing(paying: Paying) -> None:
    p = paying
    _, buyer, order = await _reserved(p)
    payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                   headers=buyer.headers)).json()["payment"]
    event = json.dumps({"id": "evt_forged", "type": "payment_intent.succeeded", "data": {"object": {
        "id": payment["intent_id"], "object": "payment_intent", "metadata": {"order_id": order["id"]}}}})
    now = int(time.time())
    forged = [
        {},  # no signature
        {"Stripe-Signature": f"t={now},v1={'0' * 64}"},  # wrong
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": f"t={now - 400},v1={'a' * 64}"},
    ]
    for _ in range(250):  # 1,000 forged notices in all
        for headers in forged:
            answer = await p.client.post("/api/payments/stripe/webhook", content=event.encode(),
                                         headers={"Content-Type": "application/json", **headers})
            assert is_problem(answer, 400, "bad_signature")
    # Signed with the right secret but stale (over 300 s), and a signed body changed after signing.
    stale_header = stripe.WebhookSignature._compute_signature(f"{now - 400}.{event}", p.keys.stripe_webhook_secret)
    answer = await p.client.post("/api/payments/stripe/webhook", content=event.encode(),
                                 headers={"Stripe-Signature": f"t={now - 400},v1={stale_header}"})
    assert is_problem(answer, 400, "bad_signature")
    good = stripe.WebhookSignature._compute_signature(f"{now}.{event}", p.keys.stripe_webhook_secret)
    tampered = event.replace("evt_forged", "evt_forgeD")
    answer = await p.client.post("/api/payments/stripe/webhook", content=tampered.encode(),
                                 headers={"Stripe-Signature": f"t={now},v1={good}"})
    assert is_problem(answer, 400, "bad_signature")
    for body in (b"\xff\xfe", b"", b"{", b"a=b&sign=x"):
        assert is_problem(await p.client.post("/api/payments/alipay/notify", content=body,
                                              headers={"Content-Type": "application/x-www-form-urlencoded"}),
                          400, "bad_signature")
    seen = await _order(p, buyer, order["id"])
    assert seen["status"] == "reserved" and seen["payment"]["status"] == "pending"


async def test_an_unknown_intent_is_answered_200_and_ignored(paying: Paying) -> None:
    p = paying
    client = p.stripe_client()
    # An intent made outside the store (the dashboard, another app on the account) succeeds.
    intent = await client.v1.payment_intents.create_async(params={"amount": 100, "currency": "eur",
                                                      "metadata": {"order_id": "999999-nosuchorder"}})
    await client.v1.payment_intents.confirm_async(intent.id, params={"payment_method": "pm_card_visa"})

    async def figures() -> dict[str, Any]:
        shown: dict[str, Any] = (await p.http.get(f"{p.endpoints.stripe_api_base}/_fake/deliveries")).json()["stats"]
        return shown

    async def delivered() -> bool:
        seen = await figures()
        return int(seen["delivered"]) >= 1 and int(seen["pending"]) == 0

    await eventually(delivered)
    seen = await figures()
    assert (seen["failed"], seen["retried"]) == (0, 0), seen  # answered 200 the first time


@pytest.mark.slow  # 200 orders through the provider stand-in
async def test_two_hundred_orders_paid_with_duplicated_and_shuffled_events_are_paid_once(paying: Paying) -> None:
    p = paying
    await p.http.post(f"{p.endpoints.stripe_api_base}/_fake/deliveries/chaos",
                      json={"delay_max": 0.5, "duplicate_fraction": 0.3, "out_of_order_fraction": 0.2,
                            "reorder_seconds": 0.5})
    operator = await make_account(p.app, "operator")
    drop = await create_drop(p.client, operator, stock=200, pay_window_seconds=600)
    buyers = await make_accounts(p.app, 200)
    gate = asyncio.Semaphore(20)

    async def one(buyer: Any) -> str:
        async with gate:
            order = (await purchase(p.client, drop["id"], buyer.headers)).json()
            payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                           headers=buyer.headers)).json()["payment"]
            if random.random() < 0.2:
                await p.stripe_confirm(payment, "pm_card_chargeDeclined")  # a failure first, then success
            assert (await p.stripe_confirm(payment)).status_code == 200
            return str(order["id"])

    order_ids = await asyncio.gather(*(one(b) for b in buyers))

    async def all_paid() -> bool:
        st = await stats(p.client, operator.headers, drop["id"])
        return int(st["paid"]) == 200

    await eventually(all_paid, timeout=30, interval=0.25)
    live = await services_of(p.app).inventory.all_orders(drop["id"])
    assert {live[i].status for i in order_ids} == {"paid"}
    assert len({live[i].share for i in order_ids}) == 200  # one share token each: paid once
    st = await stats(p.client, operator.headers, drop["id"])
    assert (st["remaining"], st["reserved"], st["paid"]) == (0, 0, 200)
    figures = (await p.http.post(f"{p.endpoints.stripe_api_base}/_fake/deliveries/drain")).json()["stats"]
    assert figures["duplicated"] > 0 and figures["reordered"] > 0 and figures["failed"] == 0, figures


async def test_the_deadline_closes_the_payment_before_it_releases_the_unit(paying: Paying) -> None:
    p = paying
    operator, buyer, order = await _reserved(p, pay_window=30)
    payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                   headers=buyer.headers)).json()["payment"]
    p.clock.advance(31)  # past pay_by: the sweeper cancels the intent at Stripe, then releases

    async def released() -> bool:
        return (await _order(p, buyer, order["id"]))["status"] == "expired"

    await eventually(released, timeout=10)
    client = p.stripe_client()
    assert (await client.v1.payment_intents.retrieve_async(payment["intent_id"])).status == "canceled"
    # The buyer's late confirm cannot take money any more.
    late = await p.stripe_confirm(payment)
    assert late.status_code == 400
    st = await stats(p.client, operator.headers, order["drop_id"])
    assert (st["remaining"], st["paid"]) == (1, 0)


async def test_a_payment_succeeding_at_the_deadline_is_honoured_and_the_unit_never_sold_twice(paying: Paying) -> None:
    p = paying
    await p.http.post(f"{p.endpoints.stripe_api_base}/_fake/deliveries/chaos", json={"delay_min": 1.0,
                                                                                      "delay_max": 2.0})
    operator, buyer, order = await _reserved(p, pay_window=30)
    other = await make_account(p.app)
    payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                   headers=buyer.headers)).json()["payment"]
    p.clock.advance(29.5)
    assert (await p.stripe_confirm(payment)).status_code == 200  # succeeded; its webhook is 1-2 s away
    p.clock.advance(1)  # pay_by passes before the webhook: the cancel finds it succeeded

    async def paid() -> bool:
        return (await _order(p, buyer, order["id"]))["status"] == "paid"

    await eventually(paid, timeout=10)
    assert is_problem(await purchase(p.client, order["drop_id"], other.headers), 409, "sold_out")
    st = await stats(p.client, operator.headers, order["drop_id"])
    assert (st["remaining"], st["paid"]) == (0, 1)


async def test_alipay_redirect_wallet_and_signed_notify_pay_the_order(paying: Paying) -> None:
    p = paying
    _, buyer, order = await _reserved(p, currency="CNY")
    body = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "alipay"},
                                headers=buyer.headers)).json()
    payment = body["payment"]
    assert payment["provider"] == "alipay" and payment["status"] == "pending"
    assert payment["redirect_url"].startswith(p.endpoints.alipay_gateway + "?")
    wallet = await p.http.get(payment["redirect_url"], follow_redirects=True)
    assert wallet.status_code == 200 and "text/html" in wallet.headers["content-type"]
    assert (await p.alipay_pay(payment["redirect_url"])).status_code == 200

    async def paid() -> bool:
        return (await _order(p, buyer, order["id"]))["status"] == "paid"

    await eventually(paid)


async def test_alipay_is_not_offered_for_a_currency_it_does_not_take(paying: Paying) -> None:
    p = paying
    _, buyer, order = await _reserved(p, currency="EUR")
    answer = await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "alipay"}, headers=buyer.headers)
    assert is_problem(answer, 422, "payment_method_unavailable")
    assert (await _order(p, buyer, order["id"]))["status"] == "reserved"


async def test_operator_refund_and_bulk_refund_each_order_once(paying: Paying) -> None:
    p = paying
    operator = await make_account(p.app, "operator")
    drop = await create_drop(p.client, operator, stock=6, pay_window_seconds=600)
    buyers = await make_accounts(p.app, 5)
    ids = []
    for buyer in buyers:
        order = (await purchase(p.client, drop["id"], buyer.headers)).json()
        payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                       headers=buyer.headers)).json()["payment"]
        await p.stripe_confirm(payment)
        ids.append(order["id"])

    async def all_paid() -> bool:
        return int((await stats(p.client, operator.headers, drop["id"]))["paid"]) == 5

    await eventually(all_paid)
    assert is_problem(await p.client.post(f"/api/admin/orders/{ids[0]}/refund", headers=buyers[0].headers), 403)
    one = await p.client.post(f"/api/admin/orders/{ids[0]}/refund", headers=operator.headers)
    assert one.status_code == 200 and one.json()["status"] == "refunded"
    assert (await p.client.post(f"/api/admin/orders/{ids[0]}/refund", headers=operator.headers)).json()[
        "status"] == "refunded"  # again: the same answer, no second refund
    bulk = await p.client.post(f"/api/admin/drops/{drop['id']}/refunds", json={"status": "paid"},
                               headers=operator.headers)
    assert bulk.status_code == 202 and bulk.json() == {"orders": 4}

    async def all_refunded() -> bool:
        st = await stats(p.client, operator.headers, drop["id"])
        return int(st["paid"]) == 0

    await eventually(all_refunded, timeout=15)
    client = p.stripe_client()
    refunds = (await client.v1.refunds.list_async(params={"limit": 100})).data
    assert len(refunds) == 5 and len({r.payment_intent for r in refunds}) == 5
    st = await stats(p.client, operator.headers, drop["id"])
    assert (st["remaining"], st["paid"]) == (6, 0)  # the drop is open: refunded units are back on sale
    # The audit log: the single refund once (the repeat refunded nothing), the bulk request once.
    entries = (await p.client.get("/api/admin/audit", headers=operator.headers)).json()["items"]
    mine = [(e["action"], e["target_id"]) for e in entries if e["target_id"] in (ids[0], str(drop["id"]))]
    assert mine.count(("order.refund", ids[0])) == 1 and mine.count(("drop.refund_paid", str(drop["id"]))) == 1


async def test_reconcile_finds_and_mends_a_payment_whose_notice_never_came(paying: Paying) -> None:
    p = paying
    p.fakes.stripe.webhook_url = None  # notices are kept, not sent: as if the endpoint was down for days
    # This test's orders only: the app's database outlives each test's stand-ins.
    since = p.clock.now() - timedelta(seconds=1)
    _, buyer, order = await _reserved(p)
    payment = (await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"},
                                   headers=buyer.headers)).json()["payment"]
    await p.stripe_confirm(payment)
    await asyncio.sleep(0.3)
    assert (await _order(p, buyer, order["id"]))["status"] == "reserved"
    services = services_of(p.app)
    reconciler = PaymentReconciler(services.payments, services.lookup, services.runtime.sessions)
    # Other tests' orders share this database (and may carry times from clocks they moved ahead):
    # what is checked is what the reconciler says of this order.
    lines: list[str] = []
    assert await reconciler.run(since, False, lines.append) == 1
    assert any(order["id"] in line and "succeeded at the provider" in line for line in lines), lines
    lines.clear()
    await reconciler.run(since, True, lines.append)
    assert any(order["id"] in line and "-> fixed" in line for line in lines), lines
    assert (await _order(p, buyer, order["id"]))["status"] == "paid"
    lines.clear()
    await reconciler.run(since, False, lines.append)
    assert not [line for line in lines if order["id"] in line], lines


async def test_the_provider_down_answers_503_and_a_retry_charges_once(paying: Paying) -> None:
    p = paying
    _, buyer, order = await _reserved(p)
    await p.fakes.__aexit__(None, None, None)  # Stripe is unreachable
    answer = await p.client.post(f"/api/orders/{order['id']}/pay", json={"provider": "stripe"}, headers=buyer.headers)
    assert is_problem(answer, 503, "payment_provider_unavailable") and answer.headers["retry-after"]
    assert (await _order(p, buyer, order["id"]))["status"] == "reserved"
