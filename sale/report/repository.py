"""The report's SQL: a drop's orders, only the columns the report adds up (one pass, no per-row ORM)."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sale.models import Order


class OrderFacts(NamedTuple):
    quantity: int
    amount_cents: int
    status: str
    created_at: datetime
    paid_at: datetime | None
    provider: str | None
    payment_status: str | None
    referred: bool


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def facts(self, drop_id: int) -> list[OrderFacts]:
        statement = sa.select(col(Order.quantity), col(Order.amount_cents), col(Order.status),
                              col(Order.created_at), col(Order.paid_at), col(Order.payment_provider),
                              col(Order.payment_status), col(Order.ref_token).is_not(None)).where(
            col(Order.drop_id) == drop_id)
        result = await self.session.stream(statement.execution_options(yield_per=5000))
        return [OrderFacts(*row) async for row in result]
