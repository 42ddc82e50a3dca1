"""The operator's SQL: the drop's row locked for a change, the order list (keyset pages) and the
export's stream of rows."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from accounts.models import User
from sale.models import Drop, Order

# In this order in every row read (the export indexes them: see sale/admin/export.py).
ORDER_COLUMNS = (Order.id, Order.drop_id, Order.user_id, Order.sku, Order.quantity, Order.amount_cents,
                 Order.currency, Order.status, Order.created_at, Order.pay_by, Order.paid_at, Order.ended_at,
                 Order.refund_status, Order.refunded_at, Order.number, Order.variant, Order.shipping)


class AdminRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_drop(self, drop_id: int) -> Drop | None:
        """The drop's row, locked until the transaction ends: a write first, so that PostgreSQL holds
        the row lock and SQLite the database's write lock before anything is read (a read first would
        let two changes read the same values and the second undo the first). The write names a column
        outside every key: PostgreSQL then takes FOR NO KEY UPDATE, which the order sink's inserts (a
        foreign key to the drop) do not wait for."""
        statement = sa.update(Drop).where(col(Drop.id) == drop_id).values(paused=col(Drop.paused))
        result = await self.session.execute(statement.execution_options(synchronize_session=False))
        if not getattr(result, "rowcount", 0):
            return None
        return await self.session.get(Drop, drop_id, populate_existing=True)

    def _orders(self) -> Any:  # a Select of the order's columns and the buyer's email
        columns = [col(c) for c in ORDER_COLUMNS]
        return sa.select(*columns, col(User.email)).outerjoin(User, col(User.id) == col(Order.user_id))

    async def order_page(self, drop_id: int | None, status: str | None, after: tuple[datetime, str] | None,
                         limit: int) -> Sequence[sa.Row[Any]]:
        """Orders newest first (created_at, then id, both descending), after the cursor's row."""
        query = self._orders()
        if drop_id is not None:
            query = query.where(col(Order.drop_id) == drop_id)
        if status is not None:
            query = query.where(col(Order.status) == status)
        if after is not None:
            at, order_id = after
            query = query.where(sa.or_(col(Order.created_at) < at,
                                       sa.and_(col(Order.created_at) == at, col(Order.id) < order_id)))
        query = query.order_by(col(Order.created_at).desc(), col(Order.id).desc()).limit(limit)
        rows: Sequence[sa.Row[Any]] = (await self.session.execute(query)).all()
        return rows

    async def drop_orders(self, drop_id: int, chunk: int) -> AsyncIterator[Sequence[sa.Row[Any]]]:
        """Every order of the drop, oldest first, `chunk` rows at a time from a server-side cursor
        (PostgreSQL; SQLite steps its cursor): memory stays flat whatever the drop's size."""
        query = self._orders().where(col(Order.drop_id) == drop_id).order_by(col(Order.created_at), col(Order.id))
        # On the connection, not the ORM session: plain rows, without the ORM's per-row loading.
        connection = await self.session.connection()
        result = await connection.stream(query.execution_options(yield_per=chunk))
        async for rows in result.partitions(chunk):
            yield rows
