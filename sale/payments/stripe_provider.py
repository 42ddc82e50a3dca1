"""Stripe PaymentIntents through Stripe's official library: create (the order id as Idempotency-Key),
retrieve, cancel, refund, list; webhook events verified by `Webhook.construct_event`."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import stripe

from sale.exceptions import BadSignature
from sale.payments.provider import (
    PROVIDER_TIMEOUT_SECONDS,
    CloseOutcome,
    Notice,
    NoticeKind,
    PaymentRequest,
    ProviderError,
    RemotePayment,
    RemoteStatus,
    Started,
)

# Stripe's event types the service acts on, and what each says about the intent.
EVENT_KINDS: dict[str, NoticeKind] = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "canceled",
    "charge.refunded": "refunded",
}
_STATUS: dict[str, RemoteStatus] = {
    "succeeded": "succeeded", "canceled": "canceled", "requires_payment_method": "failed",
    "requires_confirmation": "pending", "requires_action": "pending", "processing": "pending",
    "requires_capture": "pending",
}
SIGNATURE_TOLERANCE_SECONDS = 300


class StripeProvider:
    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str = "") -> None:
        # The library's aiohttp client: a third of the CPU of its httpx one per call (0.9 ms, not 2.7,
        # creating an intent against the local stand-in), on the worker that answers buyers.
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=PROVIDER_TIMEOUT_SECONDS))
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else None,
                                           http_client=self._http, max_network_retries=1)
        self._webhook_secret = webhook_secret

    def offers(self, currency: str) -> bool:
        return True

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def start(self, payment: PaymentRequest) -> Started:
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params={"amount": payment.amount_cents, "currency": payment.currency.lower(),
                        "description": payment.subject[:200],
                        "metadata": {"order_id": payment.order_id, "attempt": str(payment.attempt)},
                        "automatic_payment_methods": {"enabled": True}},
                options={"idempotency_key": payment.key})
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__} {exc.code or ''}") from exc
        return Started(intent.id, intent.client_secret or "")

    async def close(self, intent: str) -> CloseOutcome:
        try:
            canceled = await self._client.v1.payment_intents.cancel_async(
                intent, options={"idempotency_key": f"close-{intent}"})
        except stripe.InvalidRequestError as exc:
            # A succeeded (or already canceled) intent cannot be canceled: Stripe says which it is.
            state = exc.error.payment_intent if exc.error is not None else None
            status = getattr(state, "status", None) if state is not None else None
            if exc.code == "payment_intent_unexpected_state" and status in ("succeeded", "canceled"):
                return "succeeded" if status == "succeeded" else "closed"
            raise ProviderError(f"stripe: cancel refused ({exc.code})") from exc
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}") from exc
        if canceled.status == "canceled":
            return "closed"
        if canceled.status == "succeeded":
            return "succeeded"
        raise ProviderError(f"stripe: cancel left the intent {canceled.status}")

    async def refund(self, intent: str, amount_cents: int, currency: str, key: str) -> str:
        try:
            refund = await self._client.v1.refunds.create_async(
                params={"payment_intent": intent}, options={"idempotency_key": key})
        except stripe.InvalidRequestError as exc:
            if exc.code == "charge_already_refunded":
                return f"already:{intent}"
            raise ProviderError(f"stripe: refund refused ({exc.code})") from exc
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}") from exc
        return str(refund.id)

    async def lookup(self, intent: str) -> RemotePayment:
        try:
            found = await self._client.v1.payment_intents.retrieve_async(intent)
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}") from exc
        return _remote(found)

    async def since(self, since: datetime) -> list[RemotePayment] | None:
        found: list[RemotePayment] = []
        params: dict[str, Any] = {"created": {"gte": int(since.timestamp())}, "limit": 100}
        try:
            while True:
                page = await self._client.v1.payment_intents.list_async(params=params)  # type: ignore[arg-type]
                found.extend(_remote(intent) for intent in page.data)
                if not page.has_more or not page.data:
                    return found
                params["starting_after"] = page.data[-1].id
        except stripe.StripeError as exc:
            raise ProviderError(f"stripe: {type(exc).__name__}") from exc

    def verify(self, body: bytes, signature: str | None) -> Notice | None:
        if not signature:
            raise BadSignature("Stripe-Signature is missing")
        try:
            payload = body.decode("utf-8")
            # The library's own check (what Webhook.construct_event runs first), then a plain parse:
            # construct_event's StripeObject tree cost ~0.8 ms of CPU per notice, 40 times the check.
            stripe.WebhookSignature.verify_header(payload, signature, self._webhook_secret,
                                                  SIGNATURE_TOLERANCE_SECONDS)
            event = orjson.loads(payload)
        except stripe.SignatureVerificationError:
            raise BadSignature() from None
        except ValueError:  # not UTF-8, or signed but not JSON: nothing to act on
            raise BadSignature("The body is not a Stripe event") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
            raise BadSignature("The body is not a Stripe event")  # signed, but no event id to record once by
        kind = EVENT_KINDS.get(str(event.get("type")))
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if kind is None or not isinstance(obj, dict):
            return None
        intent = obj.get("payment_intent") if kind == "refunded" else obj.get("id")
        metadata = obj.get("metadata")
        order_id = metadata.get("order_id") if isinstance(metadata, dict) else None
        amount = obj.get("amount")
        return Notice(event_id=event["id"], kind=kind, intent=str(intent or ""),
                      order_id=order_id if isinstance(order_id, str) else None,
                      amount_cents=amount if isinstance(amount, int) else None)

    def acknowledge(self) -> tuple[bytes, str]:
        return b'{"received":true}', "application/json"


def _remote(found: Any) -> RemotePayment:
    intent: dict[str, Any] = found.to_dict()
    metadata = intent.get("metadata") or {}
    status: RemoteStatus = _STATUS.get(str(intent.get("status")), "unknown")
    created = intent.get("created")
    return RemotePayment(intent=str(intent.get("id")), order_id=metadata.get("order_id"), status=status,
                         amount_cents=intent.get("amount"),
                         created=datetime.fromtimestamp(int(created), UTC) if created else None)
