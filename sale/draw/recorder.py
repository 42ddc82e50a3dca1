"""The sink's side of the draw: entry events become draw_entries rows in the sink's transaction."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from sale.draw.repository import DrawRepository


class EntryRecords:
    """An EntryRecorder (sale/sink.py): upserts, so a redelivered event changes nothing."""

    async def record_entries(self, session: AsyncSession, entries: Sequence[bytes]) -> None:
        await DrawRepository(session).record_entries(entries)
