"""The draw, made once across every node at the drop's starts_at, and the lapses after it.

Every worker runs this loop. For a draw drop whose time came, the process that takes the lock in the
drop's slot reads the entries (Redis's, with any SQL holds that Redis lacks), ranks them by score,
writes the draw's figures, the winners' and backups' ranks, every entry's rank in the draw's pages and
every entrant's result message in one SQL transaction
(which refuses a second draw: `drawn_at` is set only where it was null), then puts the winners and
backups where purchase.lua reads them. After the draw every worker runs draw_lapse.lua: each lapse
and each backup's turn is returned to exactly one caller, which records it and tells the backup."""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from core.clock import Clock, as_utc, ms
from core.loops import forever
from sale.catalog import DropCatalog
from sale.draw.gate import DrawGate, ResultRow, Turn
from sale.draw.messages import tell_ranked, write_results, write_turns
from sale.draw.models import Draw
from sale.draw.pages import build_pages
from sale.draw.repository import DrawRepository
from sale.draw.seed import ranked
from sale.loader import DropLoader
from sale.models import Drop, Order

log = logging.getLogger("flashsale.draw")


class DrawRunner:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], gate: DrawGate, catalog: DropCatalog,
                 loader: DropLoader, clock: Clock, interval_seconds: float = 0.25) -> None:
        self.sessions = sessions
        self.gate = gate
        self.catalog = catalog
        self.loader = loader
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.owner = secrets.token_hex(8)
        self._drawn: set[int] = set()

    async def run(self) -> None:
        await forever(self.step, log, pause=self.interval_seconds)

    async def step(self) -> int:
        now = self.clock.now()
        done = 0
        for drop in await self.catalog.current():
            if drop.mode != "draw" or drop.id is None or now < as_utc(drop.starts_at):
                continue
            if drop.id not in self._drawn:
                await self.draw(drop)
            if drop.id in self._drawn:
                done += await self.lapse(drop)
        return done

    async def draw(self, drop: Drop) -> bool:
        """Makes the drop's draw if no process made it; True when this call made it."""
        assert drop.id is not None
        counters = await self.gate.counters(drop.id)
        if counters is None:
            await self.loader.load(drop)
            counters = await self.gate.counters(drop.id)
        if counters is not None and counters.drawn:
            self._drawn.add(drop.id)
            return False
        if not await self.gate.lock(drop.id, self.owner):
            return False
        try:
            return await self._draw_locked(drop)
        finally:
            await self.gate.unlock(drop.id, self.owner)

    async def _draw_locked(self, drop: Drop) -> bool:
        assert drop.id is not None
        drop_id = drop.id
        async with self.sessions() as session:
            row = await DrawRepository(session).draw(drop_id)
        if row is None:
            log.error("draw drop %s has no draw row: no draw made", drop_id)
            return False
        if row.drawn_at is not None:  # made before; Redis lost its results: put them back from SQL
            await self._republish(drop, row)
            self._drawn.add(drop_id)
            return False
        clock = time.perf_counter()
        counters = await self.gate.counters(drop_id)
        assert counters is not None
        found = await self.gate.standing(drop_id)
        standing, known = found.entries, sorted(found.known)  # in order, the database compares them fast
        entrants = [user_id for user_id in known if user_id not in found.out] if found.out else known
        async with self.sessions() as session:  # entries SQL holds that Redis lost (a flushed Redis)
            unknown = await DrawRepository(session).entries_unknown(drop_id, known)
        for user_id, entry_id in unknown:
            standing[entry_id.encode()] = user_id
        if unknown:
            entrants = sorted(standing.values())
        read = time.perf_counter()
        units = max(0, counters.remaining)
        winners = min(units, len(standing))
        backups = min(drop.backups or 0, len(standing) - winners)
        now = self.clock.now()
        until = now + timedelta(seconds=drop.pay_window_seconds)
        async with self.sessions.begin() as session:
            repo = DrawRepository(session)
            if not await repo.mark_drawn(drop_id, now, units, len(standing), winners, backups, counters.voided):
                log.info("draw of drop %s was made by another process", drop_id)
                self._drawn.add(drop_id)
                return False
            # The database writes every entrant's message while a thread ranks the entries and makes
            # the draw's pages (SQLite's and PostgreSQL's work is off the GIL).
            _, (top, pages) = await asyncio.gather(
                write_results(session, drop_id, drop.name, now, entrants),
                asyncio.to_thread(_rank, row.seed, standing, winners, backups))
            ranked_at = time.perf_counter()
            await tell_ranked(session, drop_id, drop.name, until, [(u, status, rank) for u, _, rank, status in top])
            await repo.write_ranks([(drop_id, eid, user_id, rank, status, until if status == "won" else None)
                                    for user_id, eid, rank, status in top])
            await repo.write_pages(drop_id, pages)
        committed = time.perf_counter()
        until_ms = ms(until)
        await self.gate.publish(drop_id, [ResultRow(user_id, status, rank, until_ms if status == "won" else 0, eid)
                                          for user_id, eid, rank, status in top], winners, winners, backups)
        self._drawn.add(drop_id)
        log.info("draw of drop %s made: %d entries, %d winners, %d backups (s: read %.2f, messages written and "
                 "ranked %.2f, ranks, pages and commit %.2f, published %.2f)", drop_id, len(standing), winners,
                 backups, read - clock, ranked_at - read, committed - ranked_at, time.perf_counter() - committed)
        return True

    async def _republish(self, drop: Drop, row: Draw) -> None:
        assert drop.id is not None
        async with self.sessions() as session:
            results = await DrawRepository(session).results(drop.id)
            buyers = set((await session.execute(select(col(Order.user_id)).where(
                col(Order.drop_id) == drop.id, col(Order.status).in_(("reserved", "paid"))))).scalars().all())
        rows: list[ResultRow] = []
        for r in results:
            status = "bought" if r.status == "won" and r.user_id in buyers else r.status
            rows.append(ResultRow(r.user_id, status, r.rank, ms(r.buy_until) if r.buy_until else 0, r.entry_id))
        promised = sum(1 for r in rows if r.status == "won")
        await self.gate.publish(drop.id, rows, promised, row.winners, row.backups)

    async def lapse(self, drop: Drop) -> int:
        """Wins past buy_until lapse; free units pass to backups, who are told."""
        assert drop.id is not None
        turns = await self.gate.lapse(drop.id, drop.pay_window_seconds * 1000)
        if not turns:
            return 0
        await self.record_turns(drop, turns)
        return len(turns)

    async def record_turns(self, drop: Drop, turns: list[Turn]) -> None:
        assert drop.id is not None
        changes: list[tuple[str, str, datetime | None]] = [
            (t.entry_id, "lapsed", None) if t.kind == "l" else
            (t.entry_id, "won", datetime.fromtimestamp(t.buy_until_ms / 1000, UTC)) for t in turns]
        told: list[tuple[int, int, int]] = [(t.user_id, t.rank, t.buy_until_ms) for t in turns if t.kind == "w"]
        async with self.sessions.begin() as session:
            await DrawRepository(session).turns(drop.id, changes)
            await write_turns(session, drop.id, drop.name, told, self.clock.now())
        for t in turns:
            log.info("drop %s: %s rank %d", drop.id, "win lapsed at" if t.kind == "l" else "turn passed to", t.rank)


def _rank(seed: str, standing: dict[bytes, int], winners: int,
          backups: int) -> tuple[list[tuple[int, str, int, str]], list[tuple[str, str]]]:
    """The winners and backups, (user id, entry id, rank, status) each, and the draw's pages."""
    order = ranked(seed, standing)
    top = [(standing[eid], eid.decode(), i + 1, "won" if i < winners else "backup")
           for i, eid in enumerate(order[:winners + backups])]
    return top, build_pages(order, winners, backups)
