from collections.abc import Callable

from core.errors import DomainError, RateLimited, ValidationFailed


class DropNotFound(DomainError):
    status, code, title = 404, "drop_not_found", "No such drop"


MAX_ID = 2_147_483_647  # ids are 32-bit columns: anything larger cannot name a row


def parse_drop_id(text: str) -> int:
    """A drop id from a URL; anything that cannot be one is simply an unknown drop."""
    if not text.isdigit() or len(text) > 10 or not 0 < int(text) <= MAX_ID:
        raise DropNotFound()
    return int(text)


class NotOpen(DomainError):
    status, code, title = 403, "not_open", "This drop is not open to you right now"


class SoldOut(DomainError):
    status, code, title = 409, "sold_out", "Sold out"


class LimitReached(DomainError):
    status, code, title = 409, "limit_reached", "You already hold as many units as this drop allows"


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


class BadDrop(ValidationFailed):
    title = "Invalid drop"


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
    "rate_limited": _rate_limited,
    "quantity_over_limit": _over_limit,
    "fcode_quantity": _fcode_quantity,
    "not_found": OrderNotFound,
    "expired": OrderExpired,
    "was_expired": OrderExpired,
    "cancelled": OrderCancelled,
    "busy": PaymentInProgress,
    "was_paying": PaymentInProgress,
}


def refusal(outcome: str) -> DomainError | None:
    """The error a script's outcome code answers with; None when the outcome is no refusal."""
    make = _REFUSALS.get(outcome)
    return make() if make is not None else None


def client_code(outcome: str) -> str:
    """The contract's machine code a client saw for a script's refusal (for the drop's stats)."""
    error = refusal(outcome)
    return error.code if error is not None else outcome
