"""Queries of the payments: notices recorded once, bulk refund jobs, orders with a provider payment."""
from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from core.clock import utcnow
from sale.models import Order
from sale.payments.models import PaymentEvent, RefundJob


class NoticeRow(TypedDict):
    provider: str
    event_id: str
    kind: str
    intent: str
    order_id: str | None
    outcome: str
    received_at: datetime


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record_notices(self, rows: list[NoticeRow]) -> None:
        """The notices' rows, each inserted once (by provider and event id): redelivered ones are skipped."""
        if not rows:
            return
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table: sa.Table = PaymentEvent.__table__  # type: ignore[attr-defined]
        statement = insert(table).on_conflict_do_nothing(index_elements=["provider", "event_id"])
        await self.session.execute(statement, list(rows))

    async def add_job(self, job: RefundJob) -> RefundJob:
        self.session.add(job)
        await self.session.flush()
        return job

    async def open_jobs(self) -> list[RefundJob]:
        result = await self.session.execute(select(RefundJob).where(col(RefundJob.finished_at).is_(None))
                                            .order_by(col(RefundJob.id)))
        return list(result.scalars().all())

    async def finish_job(self, job_id: int, refunded: int, failed: int, finished: bool) -> None:
        values: dict[str, object] = {"refunded": refunded, "failed": failed}
        if finished:
            values["finished_at"] = utcnow()
        await self.session.execute(sa.update(RefundJob).where(col(RefundJob.id) == job_id).values(**values))

    async def provider_orders(self, since: datetime) -> list[Order]:
        """Orders with a provider payment created since then (reconcile's side of the comparison)."""
        result = await self.session.execute(
            select(Order).where(col(Order.payment_provider).is_not(None), col(Order.created_at) >= since)
            .order_by(col(Order.created_at)))
        return list(result.scalars().all())

    async def paid_order_ids(self, drop_id: int) -> list[str]:
        result = await self.session.execute(select(col(Order.id)).where(Order.drop_id == drop_id,
                                                                        Order.status == "paid"))
        return [str(order_id) for order_id in result.scalars().all()]
