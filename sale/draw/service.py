"""The draw for entrants and for anyone checking it: enter, withdraw, one's entry and result; the
public draw (commitment, seed, figures), its entry ids and results as text. Entering is one Redis step;
SQL is read only for a lost entrant's rank (one page of the draw's) and for the published lists."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, as_utc
from sale.catalog import DropCatalog
from sale.draw.exceptions import DrawNotMade, EntriesClosed, EntryAddressLimit, NotADraw, NotEntered
from sale.draw.gate import DrawGate, EntryReply
from sale.draw.models import Draw
from sale.draw.pages import drawn_status, entry_ids, rank_in, results
from sale.draw.repository import DrawRepository
from sale.draw.schemas import DrawOut, EntryOut
from sale.exceptions import DropNotFound
from sale.loader import DropLoader
from sale.models import Drop

VERIFY_PATH = "/draw/verify_draw.py"


class AddressTagger(Protocol):
    """A client address as every per-address limit keys it (its block, keyed-hashed)."""

    def tag(self, client: str) -> str: ...


def _at(ms_value: int) -> datetime:
    return datetime.fromtimestamp(ms_value / 1000, UTC)


class DrawService:
    def __init__(self, gate: DrawGate, loader: DropLoader, catalog: DropCatalog,
                 sessions: async_sessionmaker[AsyncSession], clock: Clock, addresses: AddressTagger,
                 entries_per_address: int, base_url: str) -> None:
        self.gate = gate
        self.loader = loader
        self.catalog = catalog
        self.sessions = sessions
        self.clock = clock
        self.addresses = addresses
        self.entries_per_address = entries_per_address
        self.base_url = base_url
        self._rows: dict[int, Draw] = {}  # the commitment never changes; the figures once, at the draw

    async def _drop(self, drop_id: int) -> Drop:
        drop = await self.catalog.get(drop_id)
        if drop is None:
            raise DropNotFound()
        if drop.mode != "draw":
            raise NotADraw()
        return drop

    async def _act(self, drop: Drop, action: str, user_id: int, address: str = "", variant: str = "") -> EntryReply:
        assert drop.id is not None
        reply = await self.gate.entry_action(drop.id, action, user_id, address, self.entries_per_address, variant)
        if reply.outcome == "missing":  # Redis does not hold the drop yet: built from SQL, once
            await self.loader.load(drop)
            reply = await self.gate.entry_action(drop.id, action, user_id, address, self.entries_per_address,
                                                 variant)
        if reply.outcome == "entries_closed":
            raise EntriesClosed()
        if reply.outcome == "address_limit":
            raise EntryAddressLimit()
        if reply.outcome == "not_entered":
            raise NotEntered()
        if reply.outcome in ("missing", "not_a_draw"):
            raise NotADraw()
        return reply

    async def enter(self, drop_id: int, user_id: int, client: str, variant: str | None) -> EntryOut:
        """The caller's entry: new, or the same one again."""
        drop = await self._drop(drop_id)
        reply = await self._act(drop, "enter", user_id, self.addresses.tag(client), variant or "")
        if reply.outcome == "entered":
            return EntryOut(id=reply.entry_id, status="entered")
        return await self.entry(drop_id, user_id)

    async def withdraw(self, drop_id: int, user_id: int) -> None:
        await self._act(await self._drop(drop_id), "withdraw", user_id)

    async def entry(self, drop_id: int, user_id: int) -> EntryOut:
        """The caller's entry and, once the draw is made, its result."""
        await self._drop(drop_id)
        entry, result, drawn = await self.gate.entry(drop_id, user_id)
        if entry is None or entry.status == "w":
            raise NotEntered()
        if entry.status == "v":
            return EntryOut(id=entry.entry_id, status="lost", voided=True)
        if not drawn:
            return EntryOut(id=entry.entry_id, status="entered")
        if result is None:  # lost: the rank is on the draw's page for the entry id
            async with self.sessions() as session:
                lines = await DrawRepository(session).page_of(drop_id, entry.entry_id)
            return EntryOut(id=entry.entry_id, status="lost", rank=rank_in(lines, entry.entry_id) if lines else None)
        status = result.status
        if status == "won" and result.buy_until_ms <= self.clock.now_ms():
            status = "lapsed"  # passed; the next lapse step passes it on
        until = _at(result.buy_until_ms) if status == "won" else None
        return EntryOut(id=entry.entry_id, status=status, rank=result.rank,
                        buy_until=until)

    async def _draw_row(self, drop_id: int, drawn: bool) -> Draw:
        """The draw's row, read from SQL once while it is not drawn and once after (Redis says when)."""
        row = self._rows.get(drop_id)
        if row is not None and (row.drawn_at is not None or not drawn):
            return row
        async with self.sessions() as session:
            row = await DrawRepository(session).draw(drop_id)
        if row is None:
            raise NotADraw()
        self._rows[drop_id] = row
        return row

    async def public(self, drop_id: int) -> DrawOut:
        """The draw as anyone may check it."""
        drop = await self._drop(drop_id)
        counters = await self.gate.counters(drop_id)
        if counters is None:
            await self.loader.load(drop)
            counters = await self.gate.counters(drop_id)
        row = await self._draw_row(drop_id, counters.drawn if counters else False)
        now = self.clock.now()
        assert drop.entries_open_at is not None and drop.entries_close_at is not None
        made = row.drawn_at is not None
        base = f"{self.base_url}/api/drops/{drop_id}/draw"
        return DrawOut(
            drop_id=drop_id, commitment=row.commitment if now >= as_utc(drop.entries_open_at) else None,
            seed=row.seed if made else None, entries=row.entries if made else (counters.entered if counters else 0),
            winners=row.winners if made else None, backups=row.backups if made else None,
            voided=row.voided if made else (counters.voided if counters else 0),
            entries_open_at=as_utc(drop.entries_open_at), entries_close_at=as_utc(drop.entries_close_at),
            draw_at=as_utc(drop.starts_at), drawn_at=as_utc(row.drawn_at) if row.drawn_at else None,
            entries_url=f"{base}/entries.txt", results_url=f"{base}/results.txt",
            verify_url=f"{self.base_url}{VERIFY_PATH}")

    async def _made(self, drop_id: int) -> None:
        await self._drop(drop_id)
        row = await self._draw_row(drop_id, True)
        if row.drawn_at is None:
            raise DrawNotMade()

    async def entries_text(self, drop_id: int) -> AsyncIterator[bytes]:
        """Every entry id in the draw, one a line, sorted (raises draw_not_made before it starts)."""
        await self._made(drop_id)
        return self._lines(drop_id, ranks=False)

    async def results_text(self, drop_id: int) -> AsyncIterator[bytes]:
        """'<entry id> <rank> <status>' a line, by entry id."""
        await self._made(drop_id)
        return self._lines(drop_id, ranks=True)

    async def _lines(self, drop_id: int, ranks: bool) -> AsyncIterator[bytes]:
        async with self.sessions() as session:
            repo = DrawRepository(session)
            if ranks:
                row = self._rows[drop_id]
                changed = [(r.entry_id, r.rank, drawn, r.status) for r in await repo.results(drop_id)
                           if (drawn := drawn_status(r.rank, row.winners, row.backups)) != r.status]
                async for lines in results(repo.stream_pages(drop_id), changed):
                    yield lines.encode()
            else:
                async for lines in repo.stream_pages(drop_id):
                    yield entry_ids(lines).encode()


def pay_deadline(now: datetime, pay_window_seconds: int) -> datetime:
    return now + timedelta(seconds=pay_window_seconds)
