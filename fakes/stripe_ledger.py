"""The fake Stripe's book: PaymentIntents, their charges, refunds and events, with Stripe's rules for
which state may become which and the errors it answers otherwise (`StripeFault`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fakes import stripe_objects as so
from fakes.stripe_objects import Charge, Event, Intent, Json, Origin, Refund, new_id, now

CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
DECLINE_MESSAGES = {"generic_decline": "Your card was declined.",
                    "insufficient_funds": "Your card has insufficient funds."}


class StripeFault(Exception):
    """An error answer: `{"error": {"type", "code", "message", "param", ...}}` with its HTTP status."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, extra: Json | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error: Json = {"type": type_, "message": message}
        if code is not None:
            self.error["code"] = code
            self.error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.error["param"] = param
        self.error.update(extra or {})

    def body(self) -> Json:
        return {"error": self.error}


def missing(param: str) -> StripeFault:
    return StripeFault(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def no_such(kind: str, value: str, param: str | None = None) -> StripeFault:
    return StripeFault(404, f"No such {kind}: '{value}'", code="resource_missing", param=param or "id")


def unexpected_state(message: str, intent: Intent) -> StripeFault:
    return StripeFault(400, message, code="payment_intent_unexpected_state",
                       extra={"payment_intent": intent.to_json()})


@dataclass(frozen=True)
class NewIntent:
    amount: int
    currency: str
    metadata: dict[str, str]
    description: str | None
    automatic_payment_methods: bool
    payment_method: str | None = None
    confirm: bool = False


class Ledger:
    """Everything the fake Stripe knows, in memory; `publish` receives each event as it happens."""

    def __init__(self, publish: Callable[[Event], None], api_version: str) -> None:
        self.publish = publish
        self.api_version = api_version
        self.intents: dict[str, Intent] = {}
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self.events: dict[str, Event] = {}

    def _emit(self, type_: str, obj: Json, origin: Origin, previous: Json | None = None) -> None:
        event = Event(id=new_id("evt_"), type=type_, created=now(), object=obj, api_version=self.api_version,
                      origin=origin, previous_attributes=previous)
        self.events[event.id] = event
        self.publish(event)

    def intent(self, intent_id: str) -> Intent:
        found = self.intents.get(intent_id)
        if found is None:
            raise no_such("payment_intent", intent_id)
        return found

    def create_intent(self, new: NewIntent, origin: Origin) -> Intent:
        intent_id = new_id("pi_")
        intent = Intent(id=intent_id, client_secret=f"{intent_id}_secret_{new_id('', 25)}", amount=new.amount,
                        currency=new.currency, metadata=new.metadata, description=new.description,
                        automatic_payment_methods=new.automatic_payment_methods)
        if new.payment_method is not None:
            self._card(new.payment_method)
            intent.payment_method, intent.status = new.payment_method, "requires_confirmation"
        self.intents[intent.id] = intent
        if new.confirm:
            return self.confirm(intent.id, None, origin)
        return intent

    @staticmethod
    def _card(name: str) -> None:
        if name not in so.TEST_CARDS:
            raise no_such("PaymentMethod", name, "payment_method")

    def confirm(self, intent_id: str, payment_method: str | None, origin: Origin) -> Intent:
        """Pays with a test card: succeeded, or declined (402 card_error; the intent goes back to
        requires_payment_method with `last_payment_error`, and payment_intent.payment_failed is sent)."""
        intent = self.intent(intent_id)
        if intent.status == "succeeded":
            raise unexpected_state("You cannot confirm this PaymentIntent because it has already succeeded "
                                   "after being previously confirmed.", intent)
        if intent.status not in ("requires_payment_method", "requires_confirmation", "requires_action"):
            raise unexpected_state(f"You cannot confirm this PaymentIntent because it has a status of "
                                   f"{intent.status}. Only a PaymentIntent with one of the following statuses may "
                                   "be confirmed: requires_confirmation, requires_action, requires_payment_method.",
                                   intent)
        method = payment_method or intent.payment_method
        if method is None:
            raise unexpected_state("You cannot confirm this PaymentIntent because it's missing a payment method. "
                                   "To confirm the PaymentIntent, pass a payment_method.", intent)
        self._card(method)
        card = so.TEST_CARDS[method]
        charge = Charge(id=new_id("ch_"), amount=intent.amount, currency=intent.currency, payment_intent=intent.id,
                        payment_method=method, metadata=dict(intent.metadata), succeeded=card.decline_code is None)
        self.charges[charge.id] = charge
        intent.latest_charge = charge.id
        if card.decline_code is None:
            intent.status, intent.payment_method, intent.last_payment_error = "succeeded", method, None
            intent.amount_received = intent.amount
            self._emit("payment_intent.succeeded", intent.to_json(), origin)
            return intent
        message = DECLINE_MESSAGES.get(card.decline_code, DECLINE_MESSAGES["generic_decline"])
        charge.failure_code, charge.failure_message = "card_declined", message
        error: Json = {"type": "card_error", "code": "card_declined", "decline_code": card.decline_code,
                       "message": message, "charge": charge.id,
                       "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                       "payment_method": so.payment_method_json(method, card, charge.created)}
        intent.status, intent.payment_method, intent.last_payment_error = "requires_payment_method", None, error
        self._emit("payment_intent.payment_failed", intent.to_json(), origin)
        raise StripeFault(402, message, type_="card_error", code="card_declined",
                          extra={"decline_code": card.decline_code, "charge": charge.id,
                                 "payment_intent": intent.to_json(), "payment_method": error["payment_method"]})

    def cancel(self, intent_id: str, reason: str | None, origin: Origin) -> Intent:
        """Cancels an intent that can still be paid; a succeeded or canceled one is a 400
        payment_intent_unexpected_state carrying the intent (as Stripe answers)."""
        intent = self.intent(intent_id)
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise StripeFault(400, "Invalid cancellation_reason: must be one of duplicate, fraudulent, "
                              "requested_by_customer, or abandoned", code="parameter_invalid_string",
                              param="cancellation_reason")
        if intent.status not in so.CANCELABLE:
            raise unexpected_state(f"You cannot cancel this PaymentIntent because it has a status of {intent.status}."
                                   " Only a PaymentIntent with one of the following statuses may be canceled: "
                                   + ", ".join(so.CANCELABLE) + ".", intent)
        intent.status, intent.canceled_at, intent.cancellation_reason = "canceled", now(), reason
        self._emit("payment_intent.canceled", intent.to_json(), origin)
        return intent

    def _refundable_charge(self, intent_id: str | None, charge_id: str | None) -> Charge:
        if charge_id is not None:
            charge = self.charges.get(charge_id)
            if charge is None:
                raise no_such("charge", charge_id, "charge")
            return charge
        if intent_id is None:
            raise StripeFault(400, "One of the following params should be provided for this request: "
                              "payment_intent or charge.", code="parameter_missing")
        intent = self.intents.get(intent_id)
        if intent is None:
            raise no_such("payment_intent", intent_id, "payment_intent")
        charge = self.charges.get(intent.latest_charge or "")
        if charge is None or not charge.succeeded:
            raise StripeFault(400, f"This PaymentIntent ({intent.id}) does not have a successful charge to refund.",
                              code="payment_intent_unexpected_state", param="payment_intent")
        return charge

    def refund(self, intent_id: str | None, charge_id: str | None, amount: int | None, reason: str | None,
               metadata: dict[str, str], origin: Origin) -> Refund:
        charge = self._refundable_charge(intent_id, charge_id)
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeFault(400, "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                              code="parameter_invalid_string", param="reason")
        if charge.refunded:
            raise StripeFault(400, f"Charge {charge.id} has already been refunded.", code="charge_already_refunded")
        left = charge.amount - charge.amount_refunded
        amount = left if amount is None else amount
        if amount > left:
            raise StripeFault(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                              code="amount_too_large", param="amount")
        refund = Refund(id=new_id("re_"), amount=amount, charge=charge.id, currency=charge.currency,
                        payment_intent=charge.payment_intent, reason=reason, metadata=metadata)
        self.refunds[refund.id] = refund
        previous: Json = {"amount_refunded": charge.amount_refunded, "refunded": charge.refunded}
        charge.amount_refunded += amount
        self._emit("charge.refunded", charge.to_json(), origin, previous)
        return refund
