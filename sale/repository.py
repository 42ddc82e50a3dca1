from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from sale.live_order import LiveOrder
from sale.models import Drop, Order, shown_status

_RANK = {"reserved": 0, "paying": 0, "paid": 1, "expired": 1, "cancelled": 1, "refunded": 2}
_REFUND_RANK = {None: 0, "pending": 1, "refunded": 2}


def _dt(ms_value: int | None) -> datetime | None:
    if ms_value is None:
        return None
    return datetime.fromtimestamp(float(ms_value) / 1000, UTC)


class OrderRow(TypedDict):
    """A row of the orders table, as the upsert writes it."""

    id: str
    drop_id: int
    user_id: int
    sku: str
    quantity: int
    amount_cents: int
    currency: str
    status: str
    created_at: datetime | None
    pay_by: datetime | None
    paid_at: datetime | None
    ended_at: datetime | None
    payment_ref: str | None
    fcode_hash: str | None
    ref_token: str | None
    refund_status: str | None
    refunded_at: datetime | None
    refund_ref: str | None
    payment_provider: str | None
    payment_status: str | None
    payment_intent: str | None
    payment_client: str | None
    payment_attempt: int | None
    number: str | None
    variant: str | None
    shipping: dict[str, str | None] | None


def order_row(order: LiveOrder) -> OrderRow:
    """A live order (from the stream) as a row of the orders table."""
    return OrderRow(
        id=order.id, drop_id=order.drop_id, user_id=order.user_id, sku=order.sku, quantity=order.quantity,
        amount_cents=order.amount_cents, currency=order.currency, status=shown_status(order.status),
        created_at=_dt(order.created_ms), pay_by=_dt(order.pay_by_ms), paid_at=_dt(order.paid_ms),
        ended_at=_dt(order.ended_ms), payment_ref=order.payment_ref or None, fcode_hash=order.fcode or None,
        ref_token=order.ref or None, refund_status=order.refund or None, refunded_at=_dt(order.refunded_ms),
        refund_ref=order.refund_ref or None, payment_provider=order.pay_provider or None,
        payment_status=order.pay_status or None, payment_intent=order.pay_intent or None,
        payment_client=order.pay_client or None, payment_attempt=order.pay_attempt or None,
        number=order.number or None, variant=order.variant or None,
        shipping=order.ship.as_dict() if order.ship is not None else None,
    )


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table: sa.Table = Order.__table__  # type: ignore[attr-defined]
        stmt = insert(table)
        statement = _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={"shipping": sa.func.coalesce(stmt.excluded.shipping, table.c.shipping)} | {
                name: stmt.excluded[name] for name in (
                "status", "paid_at", "ended_at", "payment_ref", "refund_status", "refunded_at", "refund_ref",
                "payment_provider", "payment_status", "payment_intent", "payment_client", "payment_attempt")},
            # A reserved order takes its final state; a finished one changes only to record a refund
            # (of a late charge: "pending", then "refunded"; of a paid order: status "refunded"), never
            # backwards.
            where=sa.or_(table.c.status == "reserved",
                         sa.and_(stmt.excluded.status == "refunded", table.c.status != "refunded"),
                         sa.and_(stmt.excluded.refund_status.is_not(None),
                                 sa.func.coalesce(table.c.refund_status, "") != "refunded")),
        )
    return statement


class DropRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, drop: Drop) -> Drop:
        self.session.add(drop)
        await self.session.flush()
        return drop

    async def get(self, drop_id: int) -> Drop | None:
        return await self.session.get(Drop, drop_id)

    async def not_ended(self, now: datetime) -> list[Drop]:
        result = await self.session.execute(
            select(Drop).where(col(Drop.ends_at) > now).order_by(col(Drop.starts_at), col(Drop.id)))
        return list(result.scalars().all())

class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, order_id: str) -> Order | None:
        return await self.session.get(Order, order_id)

    async def for_user(self, user_id: int, limit: int = 200) -> list[Order]:
        result = await self.session.execute(
            select(Order).where(Order.user_id == user_id)
            .order_by(col(Order.created_at).desc(), col(Order.id).desc()).limit(limit))
        return list(result.scalars().all())

    async def for_drop(self, drop_id: int) -> list[Order]:
        result = await self.session.execute(select(Order).where(Order.drop_id == drop_id))
        return list(result.scalars().all())

    async def count_by_drop(self, drop_ids: list[int]) -> dict[int, int]:
        if not drop_ids:
            return {}
        result = await self.session.execute(select(col(Order.drop_id), func.count()).where(
            col(Order.drop_id).in_(drop_ids)).group_by(col(Order.drop_id)))
        return {int(drop_id): int(count) for drop_id, count in result.all()}

    async def upsert_events(self, events: Iterable[LiveOrder]) -> int:
        """Writes order events idempotently: a new order is inserted, a reserved one takes its final state,
        a finished one never changes. Redelivered or reordered events are harmless."""
        latest: dict[str, OrderRow] = {}
        for event in events:
            row = order_row(event)
            seen = latest.get(row["id"])
            if seen is None or (_RANK[row["status"]], _REFUND_RANK[row["refund_status"]]) >= (
                    _RANK[seen["status"]], _REFUND_RANK[seen["refund_status"]]):
                latest[row["id"]] = row
        if not latest:
            return 0
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        # One statement object per dialect, executed with many parameter sets: compiled once and
        # cached, instead of a fresh N-row VALUES clause to compile for every batch.
        await self.session.execute(_upsert_statement(dialect), list(latest.values()))
        return len(latest)
