"""Prometheus counters the domains count into; app/metrics.py serves them and times requests.

The gauges read at scrape time (the order writer's lag, the streams' length, units left and queue
depth per live drop, the outbox backlog, Redis and the database up) are made by app/live_metrics.py
from what Redis and the database say then; they are not here."""
from __future__ import annotations

from typing import Literal, Protocol, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("flashsale_http_requests_total", "HTTP requests", ["method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("flashsale_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                    registry=REGISTRY)
PURCHASES = Counter("flashsale_purchases_total", "Purchase attempts by outcome", ["outcome"],
                    registry=REGISTRY)
ORDERS_SUNK = Counter("flashsale_orders_written_total", "Order events written to SQL", registry=REGISTRY)
EXPIRED = Counter("flashsale_orders_expired_total", "Reservations expired by the sweeper", registry=REGISTRY)
UNREPLICATED = Counter("flashsale_purchases_unreplicated_total",
                       "Purchases answered although WAIT saw fewer replicas than FLASHSALE_REDIS_WAIT_REPLICAS",
                       registry=REGISTRY)
FAILOVER_REBUILDS = Counter("flashsale_drop_rebuilds_total",
                            "Drops merged back from SQL after Redis failed over or restarted", registry=REGISTRY)
# Providers' signed notices by what applying them did (bounded: the providers and outcomes are fixed sets).
PAYMENT_NOTICES = Counter("flashsale_payment_notices_total", "Payment providers' notices by outcome",
                          ["provider", "outcome"], registry=REGISTRY)

# Payment outcomes by provider: both labels from fixed sets (a provider outside PAYMENT_PROVIDERS is
# counted as "other"), every pair created at 0 so that rates and ratios exist before the first payment.
# Count through count_payment(): the payment code calls it once per charge and once per refund.
PaymentProvider = Literal["test", "stripe", "alipay"]
PaymentOutcome = Literal["succeeded", "declined", "failed", "refunded", "refund_failed"]
PAYMENT_PROVIDERS: tuple[str, ...] = get_args(PaymentProvider)
# succeeded: the charge went through; declined: the provider refused it (the card, the buyer);
# failed: no answer or an error from the provider (timeout, 5xx, network): what the alert watches;
# refunded / refund_failed: a refund made, or one that must be retried.
PAYMENT_OUTCOMES: tuple[str, ...] = get_args(PaymentOutcome)
OTHER_PROVIDER = "other"
PAYMENTS = Counter("flashsale_payments_total", "Payment outcomes by provider", ["provider", "outcome"],
                   registry=REGISTRY)
for _provider in PAYMENT_PROVIDERS:
    for _outcome in PAYMENT_OUTCOMES:
        PAYMENTS.labels(_provider, _outcome)


def count_payment(provider: str, outcome: PaymentOutcome) -> None:
    """One payment outcome; `provider` is the provider's `name` (outside the fixed set: "other")."""
    if outcome not in PAYMENT_OUTCOMES:
        raise ValueError(f"unknown payment outcome {outcome!r}")
    PAYMENTS.labels(provider if provider in PAYMENT_PROVIDERS else OTHER_PROVIDER, outcome).inc()


class OutboxBacklog(Protocol):
    """The seam for `flashsale_outbox_backlog` (app/live_metrics.py): the outbox's service implements it
    (its messages not yet sent, a cheap count) and is handed to `live_metrics()` in app/main.py."""

    async def backlog(self) -> int: ...


class NoOutbox:
    """Until the outbox exists: nothing waits in it."""

    async def backlog(self) -> int:
        return 0


NO_OUTBOX: OutboxBacklog = NoOutbox()
