"""After the run: the drop's invariants, from the operator's stats and from the SQL orders table; for a
drop with variants, the same for each variant (its own stock, its counts in SQL equal to Redis')."""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from core.settings import Settings
from loadtest.tally import Tally

HELD = ("reserved", "paid")
COUNTED = ("reserved", "paid", "expired", "cancelled")
Stocks = dict[str, int]  # variant sku -> its stock (empty: a drop without variants)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool | None   # None: could not be checked (said why in detail); never a pass
    detail: str


@dataclass
class SqlView:
    """The drop's order rows as the sink wrote them."""
    sku: str
    units: Counter[str] = field(default_factory=Counter)        # status -> units
    held_by_user: Counter[int] = field(default_factory=Counter)  # user id -> reserved + paid units
    paid_ids: set[str] = field(default_factory=set)
    by_variant: dict[str | None, Counter[str]] = field(default_factory=dict)  # variant -> status -> units


async def fetch_stats(client: httpx.AsyncClient, operator_token: str, drop_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/admin/drops/{drop_id}/stats",
                                headers={"Authorization": f"Bearer {operator_token}"})
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def database_reachable(settings: Settings) -> bool:
    """A SQLite file that does not exist is not the server's database: never create one."""
    if settings.is_sqlite:
        return (settings.var_dir / "flashsale.db").exists() if not settings.database_url else True
    return True


async def read_sql(settings: Settings, drop_id: int) -> SqlView | None:
    """The drop's rows, or None when the drop is not in this database (another server's)."""
    from core.db import make_engine
    from sale.models import Drop, Order

    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            sku = (await conn.execute(select(Drop.sku).where(col(Drop.id) == drop_id))).scalar_one_or_none()
            if sku is None:
                return None
            query = (sa.select(col(Order.id), col(Order.user_id), col(Order.quantity), col(Order.status),
                               col(Order.variant))
                     .where(col(Order.drop_id) == drop_id))
            rows = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    view = SqlView(sku=str(sku))
    for order_id, user_id, quantity, status, variant in rows:
        view.units[status] += quantity
        view.by_variant.setdefault(variant, Counter())[status] += quantity
        if status in HELD:
            view.held_by_user[user_id] += quantity
        if status == "paid":
            view.paid_ids.add(order_id)
    return view


def stats_checks(stats: dict[str, Any], stock: int) -> list[Check]:
    remaining, reserved, paid = int(stats["remaining"]), int(stats["reserved"]), int(stats["paid"])
    return [
        Check("stock conserved", remaining + reserved + paid == stock == int(stats["stock"]),
              f"remaining {remaining} + reserved {reserved} + paid {paid} = {remaining + reserved + paid}, "
              f"stock {stock}"),
        Check("never oversold", remaining >= 0 and reserved + paid <= stock,
              f"reserved + paid = {reserved + paid} of {stock}; remaining {remaining}"),
    ]


def variant_stats_checks(stats: dict[str, Any], stocks: Stocks) -> list[Check]:
    """Each variant's stock conserved and never oversold; the drop's counters their sums."""
    if not stocks:
        return []
    shown: dict[str, dict[str, Any]] = stats.get("variants") or {}
    off, over = [], []
    for sku, stock in stocks.items():
        v = shown.get(sku)
        if v is None:
            off.append(f"{sku}: missing")
            continue
        remaining, reserved, paid = int(v["remaining"]), int(v["reserved"]), int(v["paid"])
        if remaining + reserved + paid != stock or int(v["stock"]) != stock:
            off.append(f"{sku}: {remaining} + {reserved} + {paid} of {stock}")
        if remaining < 0 or reserved + paid > stock:
            over.append(f"{sku}: {reserved + paid} of {stock}")
    sums = {name: sum(int(shown.get(sku, {}).get(name, 0)) for sku in stocks)
            for name in ("stock", "remaining", "reserved", "paid")}
    drop_level = {name: int(stats[name]) for name in sums}
    held = ", ".join(f"{sku} {int(shown.get(sku, {}).get('reserved', 0)) + int(shown.get(sku, {}).get('paid', 0))}"
                     f"/{stock}" for sku, stock in stocks.items())
    return [
        Check("stock conserved per variant", not off and sums == drop_level,
              f"{len(stocks)} variants; drop {drop_level}, sums {sums}" + (f"; off: {off}" if off else "")),
        Check("never oversold per variant", not over and not off, f"held {held}" + (f"; over: {over}" if over else "")),
    ]


def variant_sql_checks(view: SqlView, stats: dict[str, Any], stocks: Stocks) -> list[Check]:
    """Each variant's rows in SQL: within its stock, and every status's units exactly Redis' counters."""
    if not stocks:
        return []
    shown: dict[str, dict[str, Any]] = stats.get("variants") or {}
    strangers = {str(v): sum(c.values()) for v, c in view.by_variant.items() if v not in stocks}
    over, differ = [], []
    for sku, stock in stocks.items():
        rows = view.by_variant.get(sku, Counter())
        if rows["reserved"] + rows["paid"] > stock:
            over.append(f"{sku}: {rows['reserved'] + rows['paid']} of {stock}")
        counted = {s: int(shown.get(sku, {}).get(s, -1)) for s in COUNTED}
        if any(rows[s] != counted[s] for s in COUNTED):
            differ.append(f"{sku}: SQL {dict(rows)}, Redis {counted}")
    return [
        Check("never oversold per variant (SQL)", not over and not strangers,
              f"rows of {len(view.by_variant)} variants" + (f"; over: {over}" if over else "")
              + (f"; rows of no variant of the drop: {strangers}" if strangers else "")),
        Check("counts exact per variant (SQL = Redis)", not differ,
              f"{', '.join(COUNTED)} of {len(stocks)} variants" + (f"; differ: {differ}" if differ else "")),
    ]


def _settled(view: SqlView, stats: dict[str, Any], tally: Tally, stocks: Stocks) -> bool:
    if not (view.units["paid"] == int(stats["paid"]) and view.units["reserved"] == int(stats["reserved"])
            and all(order_id in view.paid_ids for order_id in tally.paid_orders)):
        return False
    shown: dict[str, dict[str, Any]] = stats.get("variants") or {}
    return all(view.by_variant.get(sku, Counter())[s] == int(shown.get(sku, {}).get(s, -1))
               for sku in stocks for s in COUNTED)


def sql_checks(view: SqlView, stats: dict[str, Any], stock: int, per_user_limit: int,
               tally: Tally) -> list[Check]:
    held = view.units["reserved"] + view.units["paid"]
    over = {user: units for user, units in view.held_by_user.items() if units > per_user_limit}
    missing = [order_id for order_id in tally.paid_orders if order_id not in view.paid_ids]
    return [
        Check("never oversold (SQL)", held <= stock, f"reserved + paid rows hold {held} units of {stock}"),
        Check("no buyer above the limit", not over,
              f"{len(view.held_by_user)} buyers hold units, the most "
              f"{max(view.held_by_user.values(), default=0)} (limit {per_user_limit})"
              + (f"; over: {dict(list(over.items())[:5])}" if over else "")),
        Check("every paid unit is an order row",
              view.units["paid"] == int(stats["paid"]) and not missing,
              f"paid rows {view.units['paid']} units, stats paid {stats['paid']}; "
              f"{len(tally.paid_orders)} orders seen paid, {len(missing)} of them without a paid row"),
    ]


async def verify(client: httpx.AsyncClient, operator_token: str, drop_id: int, *, stock: int,
                 per_user_limit: int, tally: Tally, settings: Settings | None,
                 sink_wait: float = 10.0, variants: Stocks | None = None) -> tuple[dict[str, Any], list[Check]]:
    """Checks the invariants; waits up to `sink_wait` seconds for the SQL rows to catch up with Redis."""
    stocks = variants or {}
    stats = await fetch_stats(client, operator_token, drop_id)
    checks = stats_checks(stats, stock) + variant_stats_checks(stats, stocks)
    if settings is None or not database_reachable(settings):
        checks.append(Check("SQL orders", None, "database not reachable from here: SQL checks skipped"))
        return stats, checks
    deadline = time.monotonic() + sink_wait
    view: SqlView | None = None
    while True:
        try:
            view = await read_sql(settings, drop_id)
        except Exception as exc:  # unreachable or not the server's database: say so, do not fail
            checks.append(Check("SQL orders", None, f"database not readable ({type(exc).__name__}): skipped"))
            return stats, checks
        if view is None:
            checks.append(Check("SQL orders", None, f"drop {drop_id} is not in that database: skipped"))
            return stats, checks
        if _settled(view, stats, tally, stocks) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
        stats = await fetch_stats(client, operator_token, drop_id)
    return stats, (stats_checks(stats, stock) + variant_stats_checks(stats, stocks)
                   + sql_checks(view, stats, stock, per_user_limit, tally) + variant_sql_checks(view, stats, stocks))


def traffic_checks(tally: Tally, locust_failures: int) -> list[Check]:
    errors = tally.server_errors()
    by_code = {code: n for code, n in tally.by_code().items() if code.startswith("5")}
    return [
        Check("no 5xx", errors == 0, f"{errors} answers 5xx" + (f": {by_code}" if by_code else "")),
        Check("no unexpected answers", locust_failures == 0 and tally.idempotency_mismatches == 0,
              f"{locust_failures} Locust failures; {tally.idempotency_mismatches} idempotent retries "
              "answered another order"),
    ]
