"""A drop's orders as CSV, streamed from the database: rows leave a server-side cursor a chunk at a
time and go out as they are formatted, so memory stays flat whatever the drop's size.

UTF-8 with a byte order mark, so that Excel opens it as UTF-8 (Chinese names and addresses read
right); cells that a spreadsheet would run as a formula are prefixed with an apostrophe."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from babel.numbers import get_currency_precision
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import as_utc
from sale.admin.repository import AdminRepository
from sale.drops import DropAdmin
from sale.exceptions import DropNotFound

BOM = "\ufeff".encode()
CHUNK = 2000
COLUMNS = ("order_id", "status", "quantity", "amount_cents", "amount", "currency", "created_at", "pay_by",
           "paid_at", "ended_at", "refund_status", "refunded_at", "buyer_email")
# The seam for shipping addresses (the checkout issue adds them to orders): their columns go here, and
# `shipping_cells` returns a row's cells in the same order.
SHIPPING_COLUMNS: tuple[str, ...] = ()
ShippingCells = Callable[[Any], Sequence[str]]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def no_shipping(_: Any) -> Sequence[str]:
    return ()


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _time(value: datetime | None) -> str:
    return as_utc(value).isoformat(timespec="milliseconds") if value is not None else ""


def _amount(cents: int, currency: str, digits: dict[str, int]) -> str:
    places = digits.get(currency)
    if places is None:
        places = digits[currency] = get_currency_precision(currency)
    if places == 0:
        return str(cents)
    sign, whole = ("-" if cents < 0 else ""), abs(cents)
    return f"{sign}{whole // 10 ** places}.{whole % 10 ** places:0{places}d}"


class OrderExport:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], drops: DropAdmin,
                 shipping: ShippingCells = no_shipping) -> None:
        self.sessions = sessions
        self.drops = drops
        self.shipping = shipping

    async def open_csv(self, drop_id: int) -> AsyncIterator[bytes]:
        """Raises drop_not_found before the stream starts; then the CSV's chunks."""
        if await self.drops.drop_record(drop_id) is None:
            raise DropNotFound()
        return self._rows(drop_id)

    async def _rows(self, drop_id: int) -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS + SHIPPING_COLUMNS)
        yield BOM + out.getvalue().encode()
        digits: dict[str, int] = {}
        async with self.sessions() as session:
            async for rows in AdminRepository(session).drop_orders(drop_id, CHUNK):
                out.seek(0)
                out.truncate()
                writer.writerows(self._cells(row, digits) for row in rows)
                yield out.getvalue().encode()

    def _cells(self, row: sa.Row[Any], digits: dict[str, int]) -> list[str | int]:
        m = row._mapping
        return [_text(m["id"]), m["status"], m["quantity"], m["amount_cents"],
                _amount(m["amount_cents"], m["currency"], digits), m["currency"], _time(m["created_at"]),
                _time(m["pay_by"]), _time(m["paid_at"]), _time(m["ended_at"]), m["refund_status"] or "",
                _time(m["refunded_at"]), _text(m["email"]), *self.shipping(row)]
