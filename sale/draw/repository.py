"""The draw's SQL: its row, entries (as the sink records them), winners' and backups' ranks and the
draw's pages (every entry's rank, as the draw writes them)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from sale.draw.models import Draw, DrawEntry, DrawPage, DrawRank

STREAM_PAGES = 20  # the draw's pages streamed from SQL this many at a time


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


_ENTRY_UPSERTS: dict[str, Any] = {}


def _entry_upsert(session: AsyncSession) -> Any:
    """The entry upsert, built once per dialect (compiled once, executed with many parameter sets)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    statement = _ENTRY_UPSERTS.get(dialect)
    if statement is None:
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(DrawEntry)
        # Keyed by account, not id: an account whose entry Redis lost (a flushed Redis) enters again with
        # a new id, which replaces the old one instead of failing the sink's batch for good.
        statement = _ENTRY_UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=["drop_id", "user_id"],
            set_={"id": insert.excluded.id, "status": insert.excluded.status,
                  "changed_at": insert.excluded.changed_at},
            where=col(DrawEntry.changed_at) <= insert.excluded.changed_at)
    return statement


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class DrawRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def draw(self, drop_id: int) -> Draw | None:
        return await self.session.get(Draw, drop_id)

    async def page_of(self, drop_id: int, entry_id: str) -> str | None:
        """The lines of the draw's page that holds the entry id, if the draw has it."""
        found = await self.session.execute(select(col(DrawPage.lines)).where(
            col(DrawPage.drop_id) == drop_id, col(DrawPage.last_entry) >= entry_id).order_by(
                col(DrawPage.last_entry)).limit(1))
        return found.scalar_one_or_none()

    async def entries_unknown(self, drop_id: int, known: list[int]) -> list[tuple[int, str]]:
        """(user id, entry id) of the entries SQL holds as entered for accounts not among `known` (those
        with an entry in Redis): the database compares the lists, so a million entries Redis also holds
        are not read here."""
        if self.session.get_bind().dialect.name == "postgresql":
            rows = await self.session.execute(sa.text(
                "SELECT user_id, id FROM draw_entries e WHERE drop_id = :drop_id AND status = 'entered' AND NOT "
                "EXISTS (SELECT 1 FROM unnest(CAST(:known AS integer[])) AS k(u) WHERE k.u = e.user_id)"),
                {"drop_id": drop_id, "known": known})
        else:
            rows = await self.session.execute(sa.text(
                "SELECT user_id, id FROM draw_entries WHERE drop_id = :drop_id AND status = 'entered' AND "
                "user_id NOT IN (SELECT value FROM json_each(:known))"),
                {"drop_id": drop_id, "known": orjson.dumps(known).decode()})
        return [(int(user_id), str(eid)) for user_id, eid in rows]

    async def entries_of(self, drop_id: int) -> list[DrawEntry]:
        rows = await self.session.execute(select(DrawEntry).where(col(DrawEntry.drop_id) == drop_id))
        return list(rows.scalars().all())

    async def record_entries(self, events: Sequence[bytes]) -> int:
        """The sink's entry events ({"id", "drop_id", "user_id", "status", "addr", "variant", "ms"}),
        upserted: a later event wins over an earlier one, a redelivered one changes nothing."""
        latest: dict[str, dict[str, Any]] = {}
        for raw in events:
            e = orjson.loads(raw)
            at = _ms(int(e["ms"]))
            latest[e["id"]] = {"id": e["id"], "drop_id": e["drop_id"], "user_id": e["user_id"], "status": e["status"],
                               "address": e["addr"], "variant": e["variant"] or None, "created_at": at,
                               "changed_at": at}
        if not latest:
            return 0
        await self.session.execute(_entry_upsert(self.session), list(latest.values()))
        return len(latest)

    async def mark_drawn(self, drop_id: int, at: datetime, units: int, entries: int, winners: int, backups: int,
                         voided: int) -> bool:
        """The draw's figures, only if it was not made before (the last word on "the draw runs once")."""
        result = await self.session.execute(
            sa.update(Draw).where(col(Draw.drop_id) == drop_id, col(Draw.drawn_at).is_(None)).values(
                drawn_at=at, units=units, entries=entries, winners=winners, backups=backups, voided=voided))
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]

    async def write_ranks(self, rows: list[tuple[int, str, int, int, str, datetime | None]]) -> None:
        """Winners' and backups' ranks, (drop id, entry id, user id, rank, status, buy_until) each."""
        if rows:
            await self.session.execute(sa.insert(DrawRank), [
                {"drop_id": d, "entry_id": e, "user_id": u, "rank": r, "status": s, "buy_until": t}
                for d, e, u, r, s, t in rows])

    async def write_pages(self, drop_id: int, pages: Sequence[tuple[str, str]]) -> None:
        """The draw's pages, (last entry id, lines) each, a thousand rows a statement."""
        for i in range(0, len(pages), 1000):
            await self.session.execute(sa.insert(DrawPage), [
                {"drop_id": drop_id, "last_entry": last, "lines": lines} for last, lines in pages[i:i + 1000]])

    async def turns(self, drop_id: int, changes: Sequence[tuple[str, str, datetime | None]]) -> None:
        """Lapses and backups' turns (entry id, new status, buy_until) recorded."""
        for entry_id, status, until in changes:
            await self.session.execute(sa.update(DrawRank).where(
                col(DrawRank.drop_id) == drop_id, col(DrawRank.entry_id) == entry_id).values(
                    status=status, buy_until=until))

    async def results(self, drop_id: int) -> list[DrawRank]:
        """Winners and backups (and what became of them), by rank."""
        rows = await self.session.execute(select(DrawRank).where(
            col(DrawRank.drop_id) == drop_id, col(DrawRank.status) != "lost").order_by(col(DrawRank.rank)))
        return list(rows.scalars().all())

    async def stream_pages(self, drop_id: int) -> AsyncIterator[str]:
        """The draw's pages' lines, by entry id, a few pages at a time."""
        last = ""
        while True:
            rows = await self.session.execute(
                select(col(DrawPage.last_entry), col(DrawPage.lines)).where(
                    col(DrawPage.drop_id) == drop_id, col(DrawPage.last_entry) > last)
                .order_by(col(DrawPage.last_entry)).limit(STREAM_PAGES))
            found = [(str(last), str(lines)) for last, lines in rows]
            if not found:
                return
            for _, lines in found:
                yield lines
            last = found[-1][0]
