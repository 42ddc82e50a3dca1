"""The sink's hook for payment notices: the {"n": JSON} entries pay_event.lua put on the order stream
become payment_events rows (once per provider and event id)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from sale.payments.repository import NoticeRow, PaymentRepository

log = logging.getLogger("flashsale.payments")


def notice_row(raw: bytes) -> NoticeRow | None:
    try:
        d = orjson.loads(raw)
        return NoticeRow(provider=str(d["provider"])[:16], event_id=str(d["event_id"])[:128],
                         kind=str(d["kind"])[:16], intent=str(d["intent"])[:128],
                         order_id=str(d["order_id"])[:64] or None, outcome=str(d["outcome"])[:24],
                         received_at=datetime.fromtimestamp(int(d["at_ms"]) / 1000, UTC))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.error("a payment notice entry on the order stream is not readable: skipped")
        return None


class NoticeRecords:
    async def record_notices(self, session: AsyncSession, notices: Sequence[bytes]) -> None:
        rows = [row for row in map(notice_row, notices) if row is not None]
        # One row per event even when a batch holds the same notice twice (the upsert skips the second).
        unique = list({(row["provider"], row["event_id"]): row for row in rows}.values())
        await PaymentRepository(session).record_notices(unique)
