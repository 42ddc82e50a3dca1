from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from sale.models import Drop, Order, shown_status

_RANK = {"reserved": 0, "paying": 0, "paid": 1, "expired": 1, "cancelled": 1}


def _dt(ms_value: Any) -> datetime | None:
    if ms_value is None or ms_value is False:
        return None
    return datetime.fromtimestamp(float(ms_value) / 1000, UTC)


def order_row(event: dict[str, Any]) -> dict[str, Any]:
    """An order event from the stream (the order's JSON) as a row of the orders table."""
    return {
        "id": event["id"], "drop_id": int(event["drop_id"]), "user_id": int(event["user_id"]),
        "sku": event["sku"], "quantity": int(event["quantity"]), "amount_cents": int(event["amount_cents"]),
        "currency": event["currency"], "status": shown_status(event["status"]), "created_at": _dt(event["created_ms"]),
        "pay_by": _dt(event["pay_by_ms"]), "paid_at": _dt(event.get("paid_ms")),
        "ended_at": _dt(event.get("ended_ms")), "payment_ref": event.get("payment_ref") or None,
        "fcode_hash": event.get("fcode") or None, "ref_token": event.get("ref") or None,
    }


def row_event(order: Order) -> dict[str, Any]:
    """The inverse of order_row: a SQL order in the JSON shape the Lua scripts keep."""
    def to_ms(value: datetime | None) -> int | bool:
        return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000) if value else False

    return {
        "id": order.id, "drop_id": order.drop_id, "user_id": order.user_id, "sku": order.sku,
        "quantity": order.quantity, "amount_cents": order.amount_cents, "currency": order.currency,
        "status": order.status, "created_ms": to_ms(order.created_at), "pay_by_ms": to_ms(order.pay_by),
        "paid_ms": to_ms(order.paid_at), "ended_ms": to_ms(order.ended_at),
        "payment_ref": order.payment_ref or "", "fcode": order.fcode_hash or "", "ref": order.ref_token or "",
    }


_UPSERTS: dict[str, Any] = {}


def _upsert_statement(dialect: str) -> Any:
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table: sa.Table = Order.__table__  # type: ignore[attr-defined]
        stmt = insert(table)
        statement = _UPSERTS[dialect] = stmt.on_conflict_do_update(
            index_elements=["id"],
            set_={name: stmt.excluded[name] for name in ("status", "paid_at", "ended_at", "payment_ref")},
            where=table.c.status == "reserved",
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

    async def upsert_events(self, events: Iterable[dict[str, Any]]) -> int:
        """Writes order events idempotently: a new order is inserted, a reserved one takes its final state,
        a finished one never changes. Redelivered or reordered events are harmless."""
        latest: dict[str, dict[str, Any]] = {}
        for event in events:
            row = order_row(event)
            seen = latest.get(row["id"])
            if seen is None or _RANK[row["status"]] >= _RANK[seen["status"]]:
                latest[row["id"]] = row
        if not latest:
            return 0
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        # One statement object per dialect, executed with many parameter sets: compiled once and
        # cached, instead of a fresh N-row VALUES clause to compile for every batch.
        await self.session.execute(_upsert_statement(dialect), list(latest.values()))
        return len(latest)
