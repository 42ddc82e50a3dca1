"""A drop's orders as CSV, streamed from the database: rows leave a server-side cursor a chunk at a
time and go out as they are formatted, so memory stays flat whatever the drop's size.

UTF-8 with a byte order mark, so that Excel opens it as UTF-8 (Chinese names and addresses read
right); cells that a spreadsheet would run as a formula are prefixed with an apostrophe."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from babel.numbers import get_currency_precision
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.admin.repository import AdminRepository
from sale.drops import DropAdmin
from sale.exceptions import DropNotFound

BOM = "\ufeff".encode()
CHUNK = 2000
COLUMNS = ("order_id", "order_number", "variant", "status", "quantity", "amount_cents", "amount", "currency",
           "created_at", "pay_by", "paid_at", "ended_at", "refund_status", "refunded_at", "buyer_email")
# The address the order ships to (`orders.shipping`, empty cells without one): the operator's export is
# the one place outside the buyer's own pages where addresses appear (API.md "Addresses and checkout").
SHIPPING_FIELDS = ("name", "phone", "country", "region", "city", "line1", "line2", "postal_code")
SHIPPING_COLUMNS = tuple(f"ship_{name}" for name in SHIPPING_FIELDS)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def shipping_cells(shipping: object) -> list[str]:
    if not isinstance(shipping, dict):
        return [""] * len(SHIPPING_FIELDS)
    return [_text(str(value)) if (value := shipping.get(name)) else "" for name in SHIPPING_FIELDS]


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA) else value


def _time(value: datetime | None) -> str:
    """UTC to the millisecond, "Z" suffixed (SQLite hands back naive UTC, asyncpg aware UTC)."""
    if value is None:
        return ""
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(UTC)
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.isoformat(timespec="milliseconds") + "Z"


def _amount(cents: int, currency: str, digits: dict[str, int]) -> str:
    places = digits.get(currency)
    if places is None:
        places = digits[currency] = get_currency_precision(currency)
    if places == 0:
        return str(cents)
    sign, whole = ("-" if cents < 0 else ""), abs(cents)
    return f"{sign}{whole // 10 ** places}.{whole % 10 ** places:0{places}d}"


class OrderExport:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], drops: DropAdmin) -> None:
        self.sessions = sessions
        self.drops = drops

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
        # The columns of AdminRepository's ORDER_COLUMNS, then the buyer's email (by position: fast).
        (order_id, _, _, _, quantity, cents, currency, status, created, pay_by, paid, ended, refund, refunded,
         number, variant, shipping, email) = cast(tuple[Any, ...], row)[:18]
        return [_text(order_id), _text(number), _text(variant), status, quantity, cents,
                _amount(cents, currency, digits), currency, _time(created), _time(pay_by), _time(paid), _time(ended),
                refund or "", _time(refunded), _text(email), *shipping_cells(shipping)]
