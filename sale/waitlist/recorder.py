"""The sink's side of the waitlist: each hold waitlist_offer.lua made becomes its holder's
"waitlist_hold" message, written in the sink's transaction and keyed by drop, account and hold number,
so a redelivered stream entry writes nothing twice."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.clock import Clock
from messages.outbox import Draft, write
from sale.models import Drop


class HoldMessages:
    """A HoldRecorder (sale/sink.py)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def record_holds(self, session: AsyncSession, drop_id: int, holds: Sequence[bytes]) -> None:
        made = [hold for entry in holds for hold in orjson.loads(entry)]
        if not made:
            return
        name = (await session.execute(select(col(Drop.name)).where(col(Drop.id) == drop_id))).scalar_one_or_none()
        drafts = [Draft(user_id=int(h["user_id"]), kind="waitlist_hold",
                        key=f"waitlist_hold:{drop_id}:{h['user_id']}:{h['hold']}:{h['until_ms']}", drop_id=drop_id,
                        params={"drop_name": name or "",
                                "until": datetime.fromtimestamp(int(h["until_ms"]) / 1000, UTC).strftime("%H:%M UTC")})
                  for h in made]
        await write(session, drafts, self.clock.now())
