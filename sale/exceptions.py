from collections.abc import Callable

from codes.exceptions import FcodeInvalid
from core.errors import DomainError, RateLimited, ValidationFailed
from core.ids import parse_id
from core.token_versions import TokenRevoked


class DropNotFound(DomainError):
    status, code, title = 404, "drop_not_found", "No such drop"


def parse_drop_id(text: str) -> int:
    """A drop id from a URL; anything that cannot be one (ASCII digits only) is simply an unknown drop."""
    drop_id = parse_id(text)
    if drop_id is None:
        raise DropNotFound()
    return drop_id


class NotOpen(DomainError):
    status, code, title = 403, "not_open", "This drop is not open to you right now"


class SoldOut(DomainError):
    status, code, title = 409, "sold_out", "Sold out"


class LimitReached(DomainError):
    status, code, title = 409, "limit_reached", "You already hold as many units as this drop allows"


class AddressLimit(DomainError):
    """The client address's unpaid units in the drop are at its cap: not the buyer's own limit (many
    buyers may share an address behind a carrier NAT), so its own code and message."""

    status, code, title = 409, "address_limit", "too many unpaid orders from your network: pay or cancel first"


class IdempotencyKeyReused(DomainError):
    status, code, title = 422, "idempotency_key_reused", "This Idempotency-Key was used with another body"


class OrderNotFound(DomainError):
    status, code, title = 404, "order_not_found", "No such order"


class OrderExpired(DomainError):
    status, code, title = 409, "order_expired", "The time to pay for this order has passed"


class OrderCancelled(DomainError):
    status, code, title = 409, "order_cancelled", "This order was cancelled"


class OrderNotCancellable(DomainError):
    status, code, title = 409, "order_not_cancellable", "Only a reserved order can be cancelled"


class PaymentInProgress(DomainError):
    status, code, title = 409, "payment_in_progress", "A payment for this order is already running"


class PaymentDeclined(DomainError):
    status, code, title = 402, "payment_declined", "The payment was declined"


class NotAdmitted(DomainError):
    status, code, title = 403, "not_admitted", "The waiting room has not admitted you (or your admission ran out)"


class NotAWinner(DomainError):
    """A draw drop: buying needs a standing win (or a backup's turn), or an F-code."""

    status, code, title = 403, "not_a_winner", "Only the draw's winners may buy now"


class BadDrop(ValidationFailed):
    title = "Invalid drop"


class DropPaused(DomainError):
    status, code, title = 403, "drop_paused", "This drop is paused by the store for a moment"


class StockConflict(DomainError):
    """A stock change would take more units than are left (reserved and paid units stay sold)."""

    status, code, title = 409, "stock_conflict", "Fewer units are left than this change takes away"


def _over_limit() -> DomainError:
    return ValidationFailed("quantity is over this drop's per-buyer limit")


def _fcode_quantity() -> DomainError:
    return ValidationFailed("An F-code buys exactly one unit")


def _rate_limited() -> DomainError:
    return RateLimited(1)


# What an outcome of the sale's Lua scripts (purchase, pay_hold, release) means to the client: the one
# table from script codes to errors. Outcomes that are not refusals (ok, held, paid...) are absent.
_REFUSALS: dict[str, Callable[[], DomainError]] = {
    "not_open": NotOpen,
    "sold_out": SoldOut,
    "limit_reached": LimitReached,
    "idempotency_key_reused": IdempotencyKeyReused,
    "not_admitted": NotAdmitted,
    "not_a_winner": NotAWinner,
    "rate_limited": _rate_limited,
    "quantity_over_limit": _over_limit,
    "fcode_quantity": _fcode_quantity,
    "token_revoked": TokenRevoked,
    "address_limit": AddressLimit,
    "drop_paused": DropPaused,
    "fcode_in_use": FcodeInvalid,
    "not_found": OrderNotFound,
    "expired": OrderExpired,
    "was_expired": OrderExpired,
    "cancelled": OrderCancelled,
    "busy": PaymentInProgress,
    "address_required": lambda: AddressRequired(),
    "variant_required": lambda: VariantRequired(),
    "variant_not_found": lambda: VariantNotFound(),
    "was_paying": PaymentInProgress,
    "refunded": lambda: OrderRefunded(),
    "was_refunded": lambda: OrderRefunded(),
}


def refusal(outcome: str) -> DomainError | None:
    """The error a script's outcome code answers with; None when the outcome is no refusal."""
    make = _REFUSALS.get(outcome)
    return make() if make is not None else None


def client_code(outcome: str) -> str:
    """The contract's machine code a client saw for a script's refusal (for the drop's stats)."""
    error = refusal(outcome)
    return error.code if error is not None else outcome


class OrderRefunded(DomainError):
    status, code, title = 409, "order_refunded", "This order was refunded"


class ProviderUnavailable(DomainError):
    """The payment provider did not answer in time or failed: nothing was charged twice (every call
    carries an idempotency key); the buyer retries."""

    status, code, title = 503, "payment_provider_unavailable", "The payment provider is not answering"

    def __init__(self, detail: str | None = None, retry_after: int = 3) -> None:
        super().__init__(detail or "The payment provider is not answering; try again in a moment.",
                         headers={"Retry-After": str(retry_after)})


class ProviderNotOffered(DomainError):
    status, code, title = 422, "payment_method_unavailable", "This payment method is not offered for this order"


class BadSignature(DomainError):
    status, code, title = 400, "bad_signature", "The notice's signature is missing, wrong or stale"


class NotRefundable(DomainError):
    status, code, title = 409, "order_not_refundable", "Only a paid order can be refunded"


class AddressRequired(DomainError):
    status, code, title = 422, "address_required", "This drop ships: choose an address to pay"


class ReservationRequired(DomainError):
    status, code, title = 403, "reservation_required", "Only accounts that set a reminder before the start may buy now"


class VariantRequired(DomainError):
    status, code, title = 422, "variant_required", "Choose a variant of this product"


class VariantNotFound(DomainError):
    status, code, title = 404, "variant_not_found", "This drop has no such variant"
