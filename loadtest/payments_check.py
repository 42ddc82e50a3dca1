"""After a rehearsal with --provider: the provider's records (its local stand-in) beside the orders.

Every paid order has exactly one succeeded payment; no unit was released while its payment could still
succeed; every payment the provider says succeeded is a paid or refunded order; and the service answered
the provider's notices quickly (their p99, from the stand-in's delivery figures)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlmodel import col, select

from core.settings import Settings
from fakes.delivery import Chaos
from fakes.server import FakeEndpoints
from loadtest.stand_ins import StandInProcess
from loadtest.verify import Check

# What --provider's notices go through: late by up to 5 s, 5% of them twice, 2% overtaken by later ones.
NOTICE_CHAOS = Chaos(delay_min=0.0, delay_max=5.0, duplicate_fraction=0.05, out_of_order_fraction=0.02,
                     reorder_seconds=2.0)

# Stripe's states from which an intent may still be paid.
STRIPE_OPEN = ("requires_payment_method", "requires_confirmation", "requires_action", "processing")
ALIPAY_OPEN = ("WAIT_BUYER_PAY",)


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    order_id: str
    status: str   # "succeeded", "open" (may still be paid) or "closed"


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: str
    status: str
    payment_status: str | None


def stand_ins(work: Path, webhook_url: str) -> StandInProcess:
    """The provider stand-ins of a rehearsal, with its notice chaos (started by the caller)."""
    return StandInProcess(work, webhook_url, NOTICE_CHAOS)


def provider_base(provider: str, fakes: StandInProcess | None) -> str:
    if fakes is None or fakes.endpoints is None:
        return ""
    return fakes.endpoints.stripe_api_base if provider == "stripe" else fakes.endpoints.alipay_base


async def _stripe(endpoints: FakeEndpoints, drop_id: int) -> list[RemoteRecord]:
    client = stripe.StripeClient(endpoints.keys.stripe_secret_key, http_client=stripe.HTTPXClient(),
                                 base_addresses={"api": endpoints.stripe_api_base})
    found: list[RemoteRecord] = []
    params: dict[str, object] = {"limit": 100}
    while True:
        page = await client.v1.payment_intents.list_async(params=params)  # type: ignore[arg-type]
        for found_intent in page.data:
            intent = found_intent.to_dict()
            order_id = str((intent.get("metadata") or {}).get("order_id", ""))
            if order_id.startswith(f"{drop_id}-"):
                status = ("succeeded" if intent["status"] == "succeeded" else
                          "open" if intent["status"] in STRIPE_OPEN else "closed")
                found.append(RemoteRecord(order_id, status))
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id


async def _alipay(endpoints: FakeEndpoints, drop_id: int) -> list[RemoteRecord]:
    async with httpx.AsyncClient(timeout=30) as http:
        trades = (await http.get(f"{endpoints.alipay_base}/_fake/trades")).json()
    found = []
    for trade in trades if isinstance(trades, list) else trades.get("trades", []):
        number = str(trade.get("out_trade_no", ""))
        if not number.startswith(f"{drop_id}-"):
            continue
        status = trade.get("trade_status")
        shown = ("succeeded" if status in ("TRADE_SUCCESS", "TRADE_FINISHED") else
                 "open" if status in ALIPAY_OPEN else "closed")
        found.append(RemoteRecord("-".join(number.split("-")[:2]), shown))
    return found


async def _orders(settings: Settings, drop_id: int) -> list[OrderRecord]:
    from core.db import make_engine
    from sale.models import Order

    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Order.id, Order.status, Order.payment_status)
                                       .where(col(Order.drop_id) == drop_id))).all()
    finally:
        await engine.dispose()
    return [OrderRecord(str(i), str(s), p) for i, s, p in rows]


async def drain_notices(provider: str, endpoints: FakeEndpoints) -> dict[str, Any]:
    """Waits (up to a minute) until the stand-in delivered every notice; its delivery figures."""
    base = endpoints.stripe_api_base if provider == "stripe" else endpoints.alipay_base
    async with httpx.AsyncClient(timeout=120) as http:
        drained: dict[str, Any] = (await http.post(f"{base}/_fake/deliveries/drain", params={"timeout": "60"})).json()
    return drained


async def provider_checks(provider: str, endpoints: FakeEndpoints, settings: Settings | None, drop_id: int,
                          max_notice_p99_ms: float, drained: dict[str, Any]) -> list[Check]:
    figures = drained["stats"]
    remote = await (_stripe(endpoints, drop_id) if provider == "stripe" else _alipay(endpoints, drop_id))
    checks = [Check(f"{provider}: every notice delivered", bool(drained.get("drained")) and figures["failed"] == 0,
                    f"{figures['notices']} notices, {figures['delivered']} deliveries accepted "
                    f"({figures['duplicated']} duplicated, {figures['reordered']} out of order, "
                    f"{figures['retried']} retried, {figures['failed']} given up)")]
    p99 = figures["latency_ms"]["p99"]
    checks.append(Check(f"{provider}: notices answered fast", p99 is not None and p99 <= max_notice_p99_ms,
                        f"the service answered notices in p50 {figures['latency_ms']['p50']} ms, p99 {p99} ms "
                        f"(at most {max_notice_p99_ms:g})"))
    if settings is None:
        return [*checks, Check("payments against orders", None, "the server's database is not reachable")]
    orders = {o.id: o for o in await _orders(settings, drop_id)}
    succeeded = Counter(r.order_id for r in remote if r.status == "succeeded")
    paid = [o for o in orders.values() if o.status == "paid"]
    twice = [o.id for o in paid if succeeded[o.id] != 1]
    released = [o for o in orders.values() if o.status in ("expired", "cancelled") and o.payment_status]
    open_ids = {r.order_id for r in remote if r.status == "open"}
    risky = [o.id for o in released if o.id in open_ids or (succeeded[o.id] and o.status != "refunded")]
    stray = [i for i in succeeded if orders.get(i) is None or orders[i].status not in ("paid", "refunded")]
    return [*checks,
            Check("every paid order has exactly one succeeded payment", not twice,
                  f"{len(paid)} paid orders, {sum(succeeded.values())} succeeded payments"
                  + (f"; off: {twice[:5]}" if twice else "")),
            Check("no unit released while its payment could still succeed", not risky,
                  f"{len(released)} orders released with a payment begun"
                  + (f"; at risk: {risky[:5]}" if risky else "")),
            Check("every succeeded payment is a paid or refunded order", not stray,
                  f"{len(succeeded)} orders with a succeeded payment" + (f"; not paid: {stray[:5]}" if stray else ""))]
