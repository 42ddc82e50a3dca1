"""SQL follows Redis: the record of each F-code catches up with its live state off the request.

A change marks the code in the dirty hash (same round trip as the change) and schedules it here;
a short-lived task writes the batch in one transaction, each row only forward (`version`), then
unmarks what did not change again meanwhile. Marks left by a crashed worker are written at the
next start-up, and before the operator's stats.
"""
from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codes.models import FCode
from codes.state import CodeState

log = logging.getLogger("flashsale.fcodes.sync")
BATCH = 200
RETRIES = 3


def _update_statement() -> sa.Update:
    table = FCode.__table__  # type: ignore[attr-defined]
    return (sa.update(table)
            .where(table.c.code_hash == sa.bindparam("b_hash"), table.c.version < sa.bindparam("b_version"))
            .values(status=sa.bindparam("b_status"), order_id=sa.bindparam("b_order_id"),
                    buyer_id=sa.bindparam("b_buyer_id"), gifted_to_id=sa.bindparam("b_gifted_to_id"),
                    gift_until=sa.bindparam("b_gift_until"), version=sa.bindparam("b_version")))


class CodeSync:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], state: CodeState) -> None:
        self.sessions = sessions
        self.state = state
        self._pending: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._update = _update_statement()

    def schedule(self, code_hash: str) -> None:
        self._pending.add(code_hash)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="fcode-sync")

    async def _run(self) -> None:
        failures = 0
        while self._pending and failures < RETRIES:
            batch = [self._pending.pop() for _ in range(min(BATCH, len(self._pending)))]
            try:
                await self.flush(batch)
                failures = 0
            except Exception:
                # The marks stay in Redis: start-up or the next stats call writes them.
                failures += 1
                self._pending.update(batch)
                log.exception("F-code record sync failed (%d codes); retrying", len(batch))
                await asyncio.sleep(0.5 * failures)
        if failures:
            self._pending.clear()

    async def flush(self, code_hashes: list[str]) -> int:
        """Writes these codes' live state to SQL; returns how many rows moved forward."""
        markers, states = await self.state.read_dirty(code_hashes)
        params = []
        for code_hash, live in zip(code_hashes, states, strict=True):
            if live is not None:
                values = live.row_values()
                params.append({f"b_{name}": value for name, value in values.items()} | {"b_hash": code_hash})
        written = 0
        if params:
            async with self.sessions() as session, session.begin():
                result = await session.execute(self._update, params)
                written = max(0, int(getattr(result, "rowcount", 0) or 0))
        await self.state.synced([(h, m) for h, m in zip(code_hashes, markers, strict=True) if m is not None])
        return written

    async def drain(self) -> None:
        """Writes every marked code (marks from any worker, including ones that died)."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        hashes = await self.state.dirty_hashes()
        for start in range(0, len(hashes), BATCH):
            await self.flush(hashes[start:start + BATCH])
