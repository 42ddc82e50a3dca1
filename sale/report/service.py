"""A drop's report: units and revenue over time (per second for the first ten minutes after the open,
per minute after), the time to sell out, attempts and refusals by code, the waiting room's figures,
payments by provider and outcome, refunds, and orders through share links."""
from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.drops import DropAdmin
from sale.report.repository import OrderFacts, ReportRepository
from sale.report.schemas import Bucket, ProviderLine, ReportOut

RUSH = timedelta(minutes=10)   # per-second buckets this long after the open, per-minute after
MAX_BUCKETS = 3000


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def bucket_of(moment: datetime, opens: datetime) -> tuple[datetime, int]:
    """The start of the interval `moment` falls in, and its length in seconds."""
    offset = (_utc(moment) - opens).total_seconds()
    if offset < RUSH.total_seconds():
        return opens + timedelta(seconds=int(offset // 1)), 1
    return opens + timedelta(seconds=int(offset // 60) * 60), 60


def series(facts: Iterable[OrderFacts], opens: datetime) -> list[Bucket]:
    reserved: Counter[tuple[datetime, int]] = Counter()
    paid: Counter[tuple[datetime, int]] = Counter()
    revenue: Counter[tuple[datetime, int]] = Counter()
    for fact in facts:
        reserved[bucket_of(fact.created_at, opens)] += fact.quantity
        if fact.paid_at is not None and fact.status == "paid":
            key = bucket_of(fact.paid_at, opens)
            paid[key] += fact.quantity
            revenue[key] += fact.amount_cents
    keys = sorted(set(reserved) | set(paid))[:MAX_BUCKETS]
    return [Bucket(at=at, seconds=length, units_reserved=reserved[(at, length)], units_paid=paid[(at, length)],
                   revenue_cents=revenue[(at, length)]) for at, length in keys]


class DropReports:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], drops: DropAdmin) -> None:
        self.sessions = sessions
        self.drops = drops

    async def report(self, drop_id: int) -> ReportOut:
        stats = await self.drops.stats(drop_id)  # the live counters (raises drop_not_found)
        drop = await self.drops.get_drop(drop_id)
        async with self.sessions() as session:
            facts = await ReportRepository(session).facts(drop_id)
        opens = _utc(drop.starts_at)
        units: Counter[str] = Counter()
        payments: dict[tuple[str, str], list[int]] = {}
        refunded_orders = refunded_cents = revenue = referred_orders = referred_units = 0
        for fact in facts:
            units[fact.status] += fact.quantity
            if fact.status == "paid":
                revenue += fact.amount_cents
            if fact.status == "refunded":
                refunded_orders += 1
                refunded_cents += fact.amount_cents
            if fact.referred:
                referred_orders += 1
                referred_units += fact.quantity
            if fact.status in ("paid", "refunded") or fact.provider:
                provider = fact.provider or "test"
                status = fact.payment_status or ("succeeded" if fact.status == "paid" else fact.status)
                line = payments.setdefault((provider, status), [0, 0])
                line[0] += 1
                line[1] += fact.amount_cents
        units["remaining"] = stats.remaining
        sold_out = stats.sold_out_at
        return ReportOut(
            drop_id=drop_id, name=drop.name, sku=drop.sku, currency=drop.currency, price_cents=drop.price_cents,
            stock=drop.stock, starts_at=opens, ends_at=_utc(drop.ends_at), sold_out_at=sold_out,
            seconds_to_sell_out=(sold_out - opens).total_seconds() if sold_out else None, units=dict(units),
            revenue_cents=revenue, refunded_orders=refunded_orders, refunded_cents=refunded_cents,
            attempts=stats.attempts, refusals=stats.rejected, queue=stats.queue,
            payments=[ProviderLine(provider=p, status=s, orders=n, amount_cents=a)
                      for (p, s), (n, a) in sorted(payments.items())],
            referred_orders=referred_orders, referred_units=referred_units, series=series(facts, opens))

    async def report_csv(self, drop_id: int) -> str:
        """The series as CSV (UTF-8 with BOM, for spreadsheets), then its totals: units taken (whatever they
    became), units paid and their revenue."""
        report = await self.report(drop_id)
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(["interval_start_utc", "seconds", "units_reserved", "units_paid", "revenue_cents"])
        for b in report.series:
            writer.writerow([b.at.isoformat(), b.seconds, b.units_reserved, b.units_paid, b.revenue_cents])
        writer.writerow([])
        writer.writerow(["total", "", sum(b.units_reserved for b in report.series),
                         sum(b.units_paid for b in report.series), sum(b.revenue_cents for b in report.series)])
        return out.getvalue()
