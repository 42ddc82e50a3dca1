"""Prometheus counters the domains count into; app/metrics.py serves them and times requests."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
# The outbox's sends by channel and what came of them (bounded: email/push x sent/pending/failed/skipped).
MESSAGES = Counter("flashsale_messages_total", "Outbox deliveries by channel and outcome", ["channel", "outcome"],
                   registry=REGISTRY)
# Deliveries waiting in the outbox (pending, due or not), as the senders last counted (every 5 s).
OUTBOX_BACKLOG = Gauge("flashsale_outbox_backlog", "Outbox deliveries not yet sent", registry=REGISTRY,
                       multiprocess_mode="max")
