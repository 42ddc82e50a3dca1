"""The fake Stripe API, driven only by the official `stripe` library pointed at it (base_addresses):
PaymentIntents (idempotent create, retrieve, list, confirm, cancel), refunds, Stripe's errors with
the intent attached, and signed webhooks that `stripe.Webhook.construct_event` accepts (and refuses
tampered or stale). Also the async methods through `stripe.HTTPXClient`, the delivery chaos and
figures, and the fakes served in the test's own loop delivering to an in-process app."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import cast

import httpx
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from stripe.params import PaymentIntentConfirmParams, PaymentIntentCreateParams

from fakes.keys import dev_keys
from fakes.server import FakePayments
from tests.support.fakes import PaymentFakes, receiver

# The providers' stand-ins alone: neither back end of the pass is reached.
pytestmark = pytest.mark.neutral

ORDER: dict[str, object] = {"amount": 599900, "currency": "cny", "metadata": {"order_id": "41"},
                            "automatic_payment_methods": {"enabled": True}, "description": "Mi Phone 15 Ultra"}


def order(**changes: object) -> PaymentIntentCreateParams:
    """The service's PaymentIntent, with `changes`."""
    return cast(PaymentIntentCreateParams, {**ORDER, **changes})


def as_browser(intent: stripe.PaymentIntent, payment_method: str) -> PaymentIntentConfirmParams:
    """Confirm's parameters as Stripe.js sends them with the publishable key: the client_secret besides."""
    return cast(PaymentIntentConfirmParams, {"payment_method": payment_method, "client_secret": intent.client_secret})


def new_key() -> str:
    return f"order-{time.time_ns()}"


def test_create_with_the_same_idempotency_key_answers_the_same_intent(payment_fakes: PaymentFakes) -> None:
    client, key = payment_fakes.stripe_client(), new_key()
    first = client.v1.payment_intents.create(params=order(), options={"idempotency_key": key})
    again = client.v1.payment_intents.create(params=order(), options={"idempotency_key": key})
    assert first.id == again.id and first.client_secret == again.client_secret
    assert first.id.startswith("pi_") and str(first.client_secret).startswith(first.id + "_secret_")
    assert (first.amount, first.currency, first.status) == (599900, "cny", "requires_payment_method")
    assert first.metadata["order_id"] == "41"
    assert first.automatic_payment_methods is not None and first.automatic_payment_methods.enabled is True
    other = client.v1.payment_intents.create(params=order(amount=1))
    assert other.id != first.id
    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.payment_intents.create(params=order(amount=2), options={"idempotency_key": key})
    assert refused.value.http_status == 400 and refused.value.error is not None
    assert refused.value.error.type == "idempotency_error"


def test_retrieve_with_the_secret_key_or_the_publishable_key_and_client_secret(payment_fakes: PaymentFakes) -> None:
    intent = payment_fakes.stripe_client().v1.payment_intents.create(params=order())
    assert payment_fakes.stripe_client().v1.payment_intents.retrieve(intent.id).amount == ORDER["amount"]
    browser = payment_fakes.stripe_client(payment_fakes.keys.stripe_publishable_key)
    seen = browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": str(intent.client_secret)})
    assert seen.id == intent.id
    with pytest.raises(stripe.InvalidRequestError) as wrong:
        browser.v1.payment_intents.retrieve(intent.id, params={"client_secret": intent.id + "_secret_guess"})
    assert wrong.value.http_status == 400
    with pytest.raises(stripe.AuthenticationError):
        browser.v1.payment_intents.create(params=order())
    with pytest.raises(stripe.AuthenticationError):
        payment_fakes.stripe_client("sk_test_not_the_key").v1.payment_intents.retrieve(intent.id)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        payment_fakes.stripe_client().v1.payment_intents.retrieve("pi_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")


def test_bad_parameters_get_stripes_400s(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    for params, code in ((order(amount=None), "parameter_missing"), (order(amount=0), "parameter_invalid_integer"),
                         (order(colour="red"), "parameter_unknown")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.payment_intents.create(params=params)
        assert (refused.value.http_status, refused.value.code) == (400, code)


def test_list_pages_newest_first_with_created_and_cursors(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    since = int(time.time())
    made = [client.v1.payment_intents.create(params=order(amount=100 + n)).id for n in range(5)]
    page = client.v1.payment_intents.list(params={"limit": 2, "created": {"gte": since}})
    assert [i.id for i in page.data] == made[::-1][:2] and page.has_more
    after = client.v1.payment_intents.list(params={"limit": 2, "created": {"gte": since},
                                                   "starting_after": page.data[-1].id})
    assert [i.id for i in after.data] == made[::-1][2:4]
    everything = [i.id for i in client.v1.payment_intents.list(params={"limit": 2, "created": {"gte": since}})
                  .auto_paging_iter()]
    assert set(made) <= set(everything)
    assert client.v1.payment_intents.list(params={"created": {"gt": int(time.time()) + 60}}).data == []


def test_confirm_pays_with_the_test_card_and_a_decline_says_why(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    browser = payment_fakes.stripe_client(payment_fakes.keys.stripe_publishable_key)
    intent = client.v1.payment_intents.create(params=order())
    with pytest.raises(stripe.CardError) as declined:
        browser.v1.payment_intents.confirm(intent.id, params=as_browser(intent, "pm_card_chargeDeclined"))
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    error = declined.value.error
    assert error is not None and error.decline_code == "generic_decline"
    assert error.payment_intent is not None and error.payment_intent.status == "requires_payment_method"
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert failed.last_payment_error is not None and failed.last_payment_error.code == "card_declined"
    paid = browser.v1.payment_intents.confirm(intent.id, params=as_browser(intent, "pm_card_visa"))
    assert paid.status == "succeeded" and paid.amount_received == ORDER["amount"] and paid.latest_charge
    assert paid.last_payment_error is None
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})
    assert twice.value.code == "payment_intent_unexpected_state"


def test_cancel_and_the_error_for_an_intent_that_cannot_be(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    unpaid = client.v1.payment_intents.create(params=order())
    key = new_key()
    canceled = client.v1.payment_intents.cancel(unpaid.id, params={"cancellation_reason": "abandoned"},
                                                options={"idempotency_key": key})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned" and canceled.canceled_at
    # A retry with the same key is answered as the first time; a new cancel is Stripe's 400, intent attached.
    again = client.v1.payment_intents.cancel(unpaid.id, params={"cancellation_reason": "abandoned"},
                                             options={"idempotency_key": key})
    assert again.status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as closed:
        client.v1.payment_intents.cancel(unpaid.id)
    assert closed.value.code == "payment_intent_unexpected_state"
    assert closed.value.error is not None and closed.value.error.payment_intent is not None
    assert closed.value.error.payment_intent.status == "canceled"
    paid = client.v1.payment_intents.create(params=order(confirm=True, payment_method="pm_card_visa"))
    assert paid.status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as late:
        client.v1.payment_intents.cancel(paid.id)
    assert (late.value.http_status, late.value.code) == (400, "payment_intent_unexpected_state")
    attached = late.value.error.payment_intent if late.value.error else None
    assert attached is not None and attached.id == paid.id and attached.status == "succeeded"
    assert "status of succeeded" in str(late.value)


def test_refund_once_then_stripes_charge_already_refunded(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    paid = client.v1.payment_intents.create(params=order(confirm=True, payment_method="pm_card_visa"))
    refund = client.v1.refunds.create(params={"payment_intent": paid.id, "reason": "requested_by_customer"},
                                      options={"idempotency_key": f"refund-{paid.id}"})
    assert refund.id.startswith("re_") and refund.amount == ORDER["amount"] and refund.status == "succeeded"
    replayed = client.v1.refunds.create(params={"payment_intent": paid.id, "reason": "requested_by_customer"},
                                        options={"idempotency_key": f"refund-{paid.id}"})
    assert replayed.id == refund.id
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.refunds.create(params={"payment_intent": paid.id})
    assert twice.value.code == "charge_already_refunded"
    assert [r.id for r in client.v1.refunds.list(params={"payment_intent": paid.id}).data] == [refund.id]
    assert client.v1.charges.retrieve(str(paid.latest_charge)).refunded is True
    unpaid = client.v1.payment_intents.create(params=order())
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": unpaid.id})


def test_the_latest_charge_expands(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    paid = client.v1.payment_intents.create(params=order(confirm=True, payment_method="pm_card_visa"))
    client.v1.refunds.create(params={"payment_intent": paid.id})
    seen = client.v1.payment_intents.retrieve(paid.id, params={"expand": ["latest_charge"]})
    assert isinstance(seen.latest_charge, stripe.Charge) and seen.latest_charge.refunded is True
    listed = client.v1.payment_intents.list(params={"limit": 1, "expand": ["data.latest_charge"]})
    assert isinstance(listed.data[0].latest_charge, stripe.Charge)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.retrieve(paid.id, params={"expand": ["customer"]})


def test_webhooks_are_signed_so_that_construct_event_accepts_them(payment_fakes: PaymentFakes) -> None:
    client, secret = payment_fakes.stripe_client(), payment_fakes.keys.stripe_webhook_secret
    with receiver(lambda _n: (200, b"")) as sink, payment_fakes.stripe_webhooks_to(sink.url + "/hook"):
        paid = client.v1.payment_intents.create(params=order(confirm=True, payment_method="pm_card_visa"))
        client.v1.refunds.create(params={"payment_intent": paid.id})
        dropped = client.v1.payment_intents.create(params=order())
        client.v1.payment_intents.cancel(dropped.id)
        received = sink.wait_for(3)
    events = [stripe.Webhook.construct_event(r.body.decode(), r.headers["Stripe-Signature"], secret) for r in received]
    assert sorted(e.type for e in events) == ["charge.refunded", "payment_intent.canceled", "payment_intent.succeeded"]
    for event in events:
        assert event.id.startswith("evt_") and event.livemode is False and event.api_version and event.created
    succeeded = next(e for e in events if e.type == "payment_intent.succeeded")
    assert succeeded.data.object["id"] == paid.id and succeeded.data.object["metadata"]["order_id"] == "41"
    body, header = received[0].body, received[0].headers["Stripe-Signature"]
    assert header.startswith("t=") and ",v1=" in header
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b'"livemode": false', b'"livemode": true').decode(), header, secret)
    stale = payment_fakes.runner.stripe.signature_header(body, int(time.time()) - 400)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), stale, secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.decode(), header, "whsec_someone_else")


def test_a_declined_payment_sends_payment_failed(payment_fakes: PaymentFakes) -> None:
    with receiver(lambda _n: (200, b"")) as sink, payment_fakes.stripe_webhooks_to(sink.url):
        intent = payment_fakes.stripe_client().v1.payment_intents.create(params=order())
        payment_fakes.control("stripe", "POST", f"/_fake/payment_intents/{intent.id}/fail")
        event = json.loads(sink.wait_for(1)[0].body)
    assert event["type"] == "payment_intent.payment_failed"
    assert event["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"


def test_refused_deliveries_are_retried_with_backoff_and_counted(payment_fakes: PaymentFakes) -> None:
    with receiver(lambda n: (500, b"down") if n <= 2 else (200, b"")) as sink, \
            payment_fakes.chaos("stripe"), payment_fakes.stripe_webhooks_to(sink.url):
        intent = payment_fakes.stripe_client().v1.payment_intents.create(params=order())
        payment_fakes.control("stripe", "POST", f"/_fake/payment_intents/{intent.id}/succeed")
        received = sink.wait_for(3)
        stats = payment_fakes.drain("stripe")
    assert len({json.loads(r.body)["id"] for r in received}) == 1
    assert len({r.headers["Stripe-Signature"] for r in received}) >= 1
    assert (stats["sent"], stats["retried"], stats["delivered"], stats["failed"]) == (3, 2, 1, 0), stats
    latency = stats["latency_ms"]
    assert isinstance(latency, dict) and latency["count"] == 3 and latency["p50"] is not None
    assert latency["p99"] is not None


def test_chaos_duplicates_and_delays_deliveries(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client()
    with receiver(lambda _n: (200, b"")) as sink, payment_fakes.stripe_webhooks_to(sink.url), \
            payment_fakes.chaos("stripe", duplicate_fraction=1.0, delay_min=0.05, delay_max=0.2,
                                out_of_order_fraction=0.5, reorder_seconds=0.1):
        for _ in range(4):
            intent = client.v1.payment_intents.create(params=order())
            payment_fakes.control("stripe", "POST", f"/_fake/payment_intents/{intent.id}/succeed")
        stats = payment_fakes.drain("stripe")
        received = sink.wait_for(8)
    ids = [json.loads(r.body)["id"] for r in received]
    assert len(ids) == 8 and len(set(ids)) == 4 and all(ids.count(i) == 2 for i in ids)
    assert (stats["notices"], stats["duplicated"], stats["delivered"]) == (4, 4, 8), stats


def test_a_bad_chaos_setting_is_refused(payment_fakes: PaymentFakes) -> None:
    base = payment_fakes.endpoints.stripe_api_base
    for body in ({"duplicate_fraction": 2}, {"delay_min": 3, "delay_max": 1}, {"colour": 1}, {"max_attempts": "x"}):
        assert httpx.post(base + "/_fake/deliveries/chaos", json=body).status_code == 400


async def test_the_async_methods_work_through_httpx(payment_fakes: PaymentFakes) -> None:
    client = payment_fakes.stripe_client(http_client=stripe.HTTPXClient())
    key = new_key()
    created = await client.v1.payment_intents.create_async(params=order(), options={"idempotency_key": key})
    again = await client.v1.payment_intents.create_async(params=order(), options={"idempotency_key": key})
    assert created.id == again.id
    assert (await client.v1.payment_intents.retrieve_async(created.id)).status == "requires_payment_method"
    assert (await client.v1.payment_intents.cancel_async(created.id)).status == "canceled"


async def test_in_the_callers_loop_webhooks_reach_an_in_process_app(tmp_path: Path) -> None:
    """`async with FakePayments(..., transports=...)`: served by the test's own loop, the events go to
    an ASGI app without a socket (how a service's in-process test app can receive them)."""
    seen: list[stripe.Event] = []
    fakes_keys = dev_keys(tmp_path / "payments")

    async def hook(request: Request) -> Response:
        seen.append(stripe.Webhook.construct_event((await request.body()).decode(),
                                                   request.headers["stripe-signature"],
                                                   fakes_keys.stripe_webhook_secret))
        return Response(status_code=200)

    shop = Starlette(routes=[Route("/api/payments/stripe/webhook", hook, methods=["POST"])])
    runner = FakePayments(fakes_keys, stripe_webhook_url="http://shop.test/api/payments/stripe/webhook",
                          transports={"http://shop.test": httpx.ASGITransport(app=shop)})
    async with runner as endpoints:
        client = stripe.StripeClient(fakes_keys.stripe_secret_key, base_addresses={"api": endpoints.stripe_api_base},
                                     http_client=stripe.HTTPXClient())
        intent = await client.v1.payment_intents.create_async(params=order())
        await client.v1.payment_intents.confirm_async(intent.id, params={"payment_method": "pm_card_visa"})
        assert await runner.stripe.deliverer.drain(10)
    await asyncio.sleep(0)
    assert [(e.type, e.data.object["id"]) for e in seen] == [("payment_intent.succeeded", intent.id)]
