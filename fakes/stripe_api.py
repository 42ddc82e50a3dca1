"""A fake Stripe API (REST v1) as the official `stripe` library speaks it: form-encoded bodies, the
secret key as a Bearer token (the publishable key with the client_secret, as Stripe.js confirms),
`Idempotency-Key` replays, Stripe's error JSON and statuses. PaymentIntents (create, retrieve, list,
confirm, cancel), refunds, charges and events; each event is signed (`Stripe-Signature`) and posted
to the configured webhook endpoint through the chaos of `fakes.delivery`.

Point the library at it with `StripeClient(key, base_addresses={"api": url})` or `stripe.api_base = url`.
Control (not Stripe's): `/_fake/webhook` (GET, POST {"url", "enabled_events"}), `/_fake/deliveries...`
(see fakes/control.py), `POST /_fake/payment_intents/{id}/succeed|fail` (pay or decline without a client)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.control import delivery_routes, json_object
from fakes.delivery import Deliverer, Notice
from fakes.stripe_forms import Listable, Params, invalid, page
from fakes.stripe_ledger import Ledger, NewIntent, StripeFault, no_such
from fakes.stripe_objects import Event, Intent, Json, Origin, new_id

API_VERSION = "2026-10-28.endive"  # the version the pinned library sends; events carry the one last seen
WEBHOOK_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
                  "charge.refunded")
CREATE = frozenset({"amount", "currency", "metadata", "automatic_payment_methods", "description", "confirm",
                    "payment_method", "payment_method_types", "payment_method_options", "capture_method",
                    "receipt_email", "statement_descriptor", "statement_descriptor_suffix", "return_url",
                    "customer", "setup_future_usage", "shipping", "expand", "transfer_group"})
CONFIRM = frozenset({"payment_method", "client_secret", "return_url", "expand", "payment_method_data",
                     "payment_method_options", "receipt_email", "setup_future_usage", "shipping", "use_stripe_sdk",
                     "mandate_data", "error_on_requires_action", "off_session", "capture_method"})
REFUND = frozenset({"payment_intent", "charge", "amount", "reason", "metadata", "expand", "instructions_email"})
LISTING = frozenset({"limit", "starting_after", "ending_before", "created", "expand"})


@dataclass(frozen=True)
class Call:
    params: Params
    path: dict[str, str]
    publishable: bool
    origin: Origin


@dataclass(frozen=True)
class Saved:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    status: int
    body: bytes


Handler = Callable[[Call], Json]


def error_response(fault: StripeFault, headers: dict[str, str]) -> Response:
    return JSONResponse(fault.body(), status_code=fault.status, headers=headers)


class FakeStripe:
    """The fake's state and its ASGI app (`.app`). Call its methods only from the loop serving it."""

    def __init__(self, *, secret_key: str, publishable_key: str, webhook_secret: str,
                 webhook_url: str | None = None, deliverer: Deliverer | None = None) -> None:
        self.secret_key, self.publishable_key, self.webhook_secret = secret_key, publishable_key, webhook_secret
        self.webhook_url = webhook_url
        self.enabled_events = frozenset(WEBHOOK_EVENTS)
        self.deliverer = deliverer or Deliverer()
        self.ledger = Ledger(self._publish, API_VERSION)
        self._saved: dict[tuple[str, str], Saved] = {}
        p = "/v1/payment_intents"
        routes = [Route(p, self._endpoint(self._create), methods=["POST"]),
                  Route(p, self._endpoint(self._list_intents), methods=["GET"]),
                  Route(p + "/{id}", self._endpoint(self._retrieve, publishable=True), methods=["GET"]),
                  Route(p + "/{id}/confirm", self._endpoint(self._confirm, publishable=True), methods=["POST"]),
                  Route(p + "/{id}/cancel", self._endpoint(self._cancel), methods=["POST"]),
                  Route("/v1/refunds", self._endpoint(self._refund), methods=["POST"]),
                  Route("/v1/refunds", self._endpoint(self._list_refunds), methods=["GET"]),
                  Route("/v1/refunds/{id}", self._endpoint(self._one("refund", self.ledger.refunds)), methods=["GET"]),
                  Route("/v1/charges/{id}", self._endpoint(self._one("charge", self.ledger.charges)), methods=["GET"]),
                  Route("/v1/events", self._endpoint(self._list_events), methods=["GET"]),
                  Route("/v1/events/{id}", self._endpoint(self._one("event", self.ledger.events)), methods=["GET"]),
                  Route("/_fake/webhook", self._webhook_config, methods=["GET", "POST"]),
                  Route("/_fake/payment_intents/{id}/{outcome:str}", self._shortcut, methods=["POST"]),
                  *delivery_routes(self.deliverer)]
        self.app = Starlette(routes=routes, exception_handlers={404: self._unrecognized, 405: self._unrecognized})

    # -- webhooks ----------------------------------------------------------------------------------
    def signature_header(self, body: bytes, timestamp: int | None = None) -> str:
        """`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">` under the webhook secret, as Stripe signs."""
        stamp = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(self.webhook_secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={stamp},v1={mac}"

    def _publish(self, event: Event) -> None:
        url = self.webhook_url
        if url is None or not {event.type, "*"} & self.enabled_events:
            return
        body = json.dumps(event.to_json(), indent=2).encode()

        def headers() -> dict[str, str]:
            return {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+fake)",
                    "Stripe-Signature": self.signature_header(body)}

        self.deliverer.submit(Notice(url=url, body=body, headers=headers, label=event.id,
                                     accepted=lambda status, _body: 200 <= status < 300))

    # -- the request pipeline ---------------------------------------------------------------------
    def _key(self, request: Request, publishable_ok: bool) -> tuple[str, bool]:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise StripeFault(401, "You did not provide an API key. You need to provide your API key in the "
                              "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
        key = header[7:].strip()
        if hmac.compare_digest(key, self.secret_key):
            return key, False
        if hmac.compare_digest(key, self.publishable_key):
            if publishable_ok:
                return key, True
            raise StripeFault(401, "This API call cannot be made with a publishable API key. Please use a secret "
                              "API key.", code="secret_key_required")
        raise StripeFault(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}", code="api_key_invalid")

    def _endpoint(self, handler: Handler, *, publishable: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            headers = {"Request-Id": new_id("req_", 14), "Stripe-Version": self.ledger.api_version}
            raw = (await request.body()).decode("utf-8", "replace") if request.method == "POST" else \
                request.url.query
            idempotency_key = request.headers.get("idempotency-key") if request.method == "POST" else None
            try:
                key, is_publishable = self._key(request, publishable)
                pairs = parse_qsl(raw, keep_blank_values=True)
                fingerprint = (request.method, request.url.path, tuple(sorted(pairs)))
                if idempotency_key:
                    headers["Idempotency-Key"] = idempotency_key
                    saved = self._saved.get((key, idempotency_key))
                    if saved is not None:
                        return self._replay(saved, fingerprint, idempotency_key, headers)
                version = request.headers.get("stripe-version", "")
                if not is_publishable and re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.\w+)?", version):
                    self.ledger.api_version = version
                call = Call(params=Params(pairs), path=dict(request.path_params), publishable=is_publishable,
                            origin=Origin(headers["Request-Id"], idempotency_key))
                status, body = 200, json.dumps(handler(call)).encode()
            except StripeFault as fault:
                if fault.status == 401 or str(fault.error.get("code", "")).startswith("parameter_"):
                    return error_response(fault, headers)  # never started: not kept for replays
                status, body = fault.status, json.dumps(fault.body()).encode()
            if idempotency_key:
                self._saved[(key, idempotency_key)] = Saved(fingerprint, status, body)
            return Response(body, status_code=status, media_type="application/json", headers=headers)

        return run

    @staticmethod
    def _replay(saved: Saved, fingerprint: tuple[str, str, tuple[tuple[str, str], ...]], key: str,
                headers: dict[str, str]) -> Response:
        """The first answer again for the same parameters; 400 idempotency_error for others."""
        if saved.fingerprint != fingerprint:
            return error_response(StripeFault(
                400, "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                type_="idempotency_error"), headers)
        headers["Idempotent-Replayed"] = "true"
        return Response(saved.body, status_code=saved.status, media_type="application/json", headers=headers)

    async def _unrecognized(self, request: Request, _exc: Exception) -> Response:
        status = _exc.status_code if isinstance(_exc, HTTPException) else 404
        fault = StripeFault(404, f"Unrecognized request URL ({request.method}: {request.url.path}). Please see "
                            "https://stripe.com/docs or we can help at https://support.stripe.com/.")
        return JSONResponse(fault.body(), status_code=404 if status in (404, 405) else status)

    def _check_secret(self, call: Call, client_secret: str) -> None:
        given = call.params.text("client_secret", required=call.publishable)
        if given is not None and not hmac.compare_digest(given, client_secret):
            raise invalid("client_secret", "The client_secret provided does not match the client_secret associated "
                          "with the PaymentIntent.", "payment_intent_invalid_parameter")

    # -- PaymentIntents ---------------------------------------------------------------------------
    def _create(self, call: Call) -> Json:
        p = call.params
        p.reject_unknown(CREATE)
        amount = p.integer("amount", required=True, minimum=1)
        currency = p.text("currency", required=True)
        assert amount is not None and currency is not None
        if not re.fullmatch(r"[A-Za-z]{3}", currency):
            raise invalid("currency", f"Invalid currency: {currency.lower()}.", "parameter_invalid_string")
        methods = p.mapping("automatic_payment_methods")
        new = NewIntent(amount=amount, currency=currency.lower(), metadata=p.metadata(),
                        description=p.text("description"), automatic_payment_methods=methods.get("enabled") == "true",
                        payment_method=p.text("payment_method"), confirm=bool(p.boolean("confirm")))
        return self._intent_json(self.ledger.create_intent(new, call.origin), p)

    def _retrieve(self, call: Call) -> Json:
        intent = self.ledger.intent(call.path["id"])
        if call.publishable:
            self._check_secret(call, intent.client_secret)
        return self._intent_json(intent, call.params)

    def _list_intents(self, call: Call) -> Json:
        call.params.reject_unknown(LISTING | {"customer"})
        charges = "data.latest_charge" in self._expand(call.params, "data.latest_charge")
        return page(list(reversed(self.ledger.intents.values())), call.params, "/v1/payment_intents",
                    "payment_intent", lambda intent: self._intent_json(intent, call.params, charges))

    @staticmethod
    def _expand(params: Params, allowed: str) -> set[str]:
        wanted = {v for v in params.mapping("expand").values() if isinstance(v, str)}
        for name in wanted - {allowed}:
            raise invalid("expand", f"This property cannot be expanded ({name}).")
        return wanted

    def _intent_json(self, intent: Intent, params: Params, in_list: bool | None = None) -> Json:
        """The intent, its latest charge as an object when asked (`expand[]=latest_charge`, in a list
        `expand[]=data.latest_charge`)."""
        body = intent.to_json()
        wanted = in_list if in_list is not None else "latest_charge" in self._expand(params, "latest_charge")
        if wanted and intent.latest_charge:
            body["latest_charge"] = self.ledger.charges[intent.latest_charge].to_json()
        return body

    def _confirm(self, call: Call) -> Json:
        call.params.reject_unknown(CONFIRM)
        intent = self.ledger.intent(call.path["id"])
        self._check_secret(call, intent.client_secret)
        return self._intent_json(self.ledger.confirm(intent.id, call.params.text("payment_method"), call.origin),
                                 call.params)

    def _cancel(self, call: Call) -> Json:
        call.params.reject_unknown(frozenset({"cancellation_reason", "expand"}))
        return self._intent_json(self.ledger.cancel(call.path["id"], call.params.text("cancellation_reason"),
                                                    call.origin), call.params)

    # -- refunds, charges, events -----------------------------------------------------------------
    def _refund(self, call: Call) -> Json:
        p = call.params
        p.reject_unknown(REFUND)
        return self.ledger.refund(p.text("payment_intent"), p.text("charge"), p.integer("amount", minimum=1),
                                  p.text("reason"), p.metadata(), call.origin).to_json()

    def _list_refunds(self, call: Call) -> Json:
        p = call.params
        p.reject_unknown(LISTING | {"payment_intent", "charge"})
        intent, charge = p.text("payment_intent"), p.text("charge")
        refunds = [r for r in reversed(self.ledger.refunds.values())
                   if (intent is None or r.payment_intent == intent) and (charge is None or r.charge == charge)]
        return page(refunds, p, "/v1/refunds", "refund")

    def _list_events(self, call: Call) -> Json:
        p = call.params
        p.reject_unknown(LISTING | {"type", "types", "delivery_success"})
        wanted = {v for v in p.mapping("types").values() if isinstance(v, str)}
        if (one := p.text("type")) is not None:
            wanted.add(one)
        events = [e for e in reversed(self.ledger.events.values()) if not wanted or e.type in wanted]
        return page(events, p, "/v1/events", "event")

    @staticmethod
    def _one(kind: str, table: Mapping[str, Listable]) -> Handler:
        def handler(call: Call) -> Json:
            found = table.get(call.path["id"])
            if found is None:
                raise no_such(kind, call.path["id"])
            return found.to_json()

        return handler

    # -- control (not Stripe's) -------------------------------------------------------------------
    async def _webhook_config(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await json_object(request)
                url, events = body.get("url", self.webhook_url), body.get("enabled_events", list(self.enabled_events))
                if (url is not None and not isinstance(url, str)) or not isinstance(events, list) \
                        or not all(isinstance(e, str) for e in events):
                    raise ValueError("url: a string or null; enabled_events: a list of event types")
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            self.webhook_url, self.enabled_events = url, frozenset(events)
        return JSONResponse({"url": self.webhook_url, "enabled_events": sorted(self.enabled_events)})

    async def _shortcut(self, request: Request) -> Response:
        outcome = request.path_params["outcome"]
        card = {"succeed": "pm_card_visa", "fail": "pm_card_chargeDeclined"}.get(outcome)
        if card is None:
            return JSONResponse({"error": "succeed or fail"}, status_code=404)
        try:
            intent = self.ledger.confirm(request.path_params["id"], card, Origin())
        except StripeFault as fault:
            if fault.status != 402:
                return error_response(fault, {})
            intent = self.ledger.intent(request.path_params["id"])
        return JSONResponse(intent.to_json())
