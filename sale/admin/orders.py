"""The operator's order list: every order of the record, filtered by drop and status, newest first,
in keyset pages (a page never skips or repeats a row, however many orders land meanwhile)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.addresses.schemas import Shipping, ShippingOut
from core.clock import as_utc
from core.cursors import BadCursor, decode_cursor, encode_cursor
from sale.admin.repository import AdminRepository
from sale.admin.schemas import AdminOrderOut, OrdersPage

PAGE_SIZE = 50
CURSOR_KIND = "orders"


def _at(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def admin_order(row: sa.Row[Any]) -> AdminOrderOut:
    m = row._mapping
    return AdminOrderOut(id=m["id"], drop_id=m["drop_id"], user_id=m["user_id"], buyer_email=m["email"],
                         sku=m["sku"], quantity=m["quantity"], amount_cents=m["amount_cents"],
                         currency=m["currency"], status=m["status"], created_at=as_utc(m["created_at"]),
                         pay_by=as_utc(m["pay_by"]), paid_at=_at(m["paid_at"]), ended_at=_at(m["ended_at"]),
                         refund_status=m["refund_status"], refunded_at=_at(m["refunded_at"]),
                         number=m["number"], variant=m["variant"], shipping=_shipping(m["shipping"]))


def _shipping(value: object) -> ShippingOut | None:
    if not isinstance(value, dict):
        return None
    s = Shipping.from_dict(value)
    return ShippingOut(name=s.name, phone=s.phone, country=s.country, region=s.region, city=s.city, line1=s.line1,
                       line2=s.line2, postal_code=s.postal_code)


def _after(cursor: str) -> tuple[datetime, str]:
    at, order_id = decode_cursor(cursor, CURSOR_KIND, 2)
    try:
        return datetime.fromisoformat(at), order_id
    except ValueError:
        raise BadCursor() from None


class AdminOrders:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def page(self, drop_id: int | None, status: str | None, cursor: str | None,
                   limit: int = PAGE_SIZE) -> OrdersPage:
        after = _after(cursor) if cursor else None
        async with self.sessions() as session:
            rows = await AdminRepository(session).order_page(drop_id, status, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = None
        if more and rows:
            last = rows[-1]._mapping
            # The stored time as it is (naive on SQLite): it compares equal to itself on the way back.
            next_cursor = encode_cursor(CURSOR_KIND, last["created_at"].isoformat(), last["id"])
        return OrdersPage(items=[admin_order(r) for r in rows], next_cursor=next_cursor)
