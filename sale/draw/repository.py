"""The draw's SQL: its row, entries (as the sink records them), ranks (as the draw writes them), the
draw's results written in bulk and the result messages with them."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from sale.draw.models import Draw, DrawEntry, DrawRank

STREAM_ROWS = 20_000  # entry ids and ranks streamed from SQL this many at a time
COPY_TIMEOUT_SECONDS = 600  # a million ranks in one COPY may take longer than the pool's command timeout


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

    async def rank_of(self, drop_id: int, user_id: int) -> DrawRank | None:
        found = await self.session.execute(select(DrawRank).where(col(DrawRank.drop_id) == drop_id,
                                                                  col(DrawRank.user_id) == user_id))
        return found.scalars().first()

    async def standing_entries(self, drop_id: int) -> list[tuple[int, str]]:
        """(user id, entry id) of the entries SQL holds as entered."""
        rows = await self.session.execute(select(col(DrawEntry.user_id), col(DrawEntry.id)).where(
            col(DrawEntry.drop_id) == drop_id, col(DrawEntry.status) == "entered"))
        return [(int(user_id), str(eid)) for user_id, eid in rows.all()]

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
        """Every entry's rank in bulk, (drop id, entry id, user id, rank, status, buy_until) each, on the
        session's own connection and transaction: PostgreSQL's COPY, SQLite's executemany (no ORM, no
        statement compiled per row)."""
        if not rows:
            return
        connection = await self.session.connection()
        dialect = connection.dialect
        raw = (await connection.get_raw_connection()).driver_connection
        if dialect.name == "postgresql":
            await raw.copy_records_to_table(  # type: ignore[union-attr]
                "draw_ranks", records=rows, columns=["drop_id", "entry_id", "user_id", "rank", "status", "buy_until"],
                timeout=COPY_TIMEOUT_SECONDS)
            return
        stamp = sa.DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
        bound = [(d, e, u, r, s, stamp(t) if stamp and t is not None else t) for d, e, u, r, s, t in rows]
        await raw.executemany(  # type: ignore[union-attr]
            "INSERT INTO draw_ranks (drop_id, entry_id, user_id, rank, status, buy_until) VALUES (?, ?, ?, ?, ?, ?)",
            bound)

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

    async def stream_ids(self, drop_id: int) -> AsyncIterator[list[str]]:
        """The draw's entry ids, sorted, a chunk at a time."""
        last = ""
        while True:
            rows = await self.session.execute(
                select(col(DrawRank.entry_id)).where(col(DrawRank.drop_id) == drop_id, col(DrawRank.entry_id) > last)
                .order_by(col(DrawRank.entry_id)).limit(STREAM_ROWS))
            ids = [str(eid) for eid in rows.scalars().all()]
            if not ids:
                return
            yield ids
            last = ids[-1]

    async def stream_ranks(self, drop_id: int) -> AsyncIterator[list[tuple[str, int, str]]]:
        """(entry id, rank, status) by entry id (the primary key's order), a chunk at a time."""
        last = ""
        while True:
            rows = await self.session.execute(
                select(col(DrawRank.entry_id), col(DrawRank.rank), col(DrawRank.status)).where(
                    col(DrawRank.drop_id) == drop_id, col(DrawRank.entry_id) > last)
                .order_by(col(DrawRank.entry_id)).limit(STREAM_ROWS))
            found = [(str(e), int(r), str(s)) for e, r, s in rows.all()]
            if not found:
                return
            yield found
            last = found[-1][0]
