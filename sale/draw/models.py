"""The draw's record: one row per draw drop (the seed and the draw's figures), each entry as the sink
writes it from the entry stream, and each entry's rank as the draw wrote it (one transaction)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Draw(SQLModel, table=True):
    """A draw drop's seed (secret until drawn_at), its commitment (public from entries_open_at) and the
    draw's figures once made."""

    __tablename__ = "draws"

    drop_id: int = Field(primary_key=True, foreign_key="drops.id")
    commitment: str = Field(max_length=64)     # hex SHA-256 of the seed's bytes
    seed: str = Field(max_length=64)           # the seed's 32 bytes as hex: never shown before drawn_at
    drawn_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    units: int = 0      # units left when the draw was made (N)
    entries: int = 0    # entries in the draw (voided ones left out)
    winners: int = 0    # min(N, entries)
    backups: int = 0    # backups named, in order
    voided: int = 0     # entries an operator voided before the draw


class DrawEntry(SQLModel, table=True):
    """An account's entry as the sink recorded it (status "entered", "withdrawn" or "voided")."""

    __tablename__ = "draw_entries"
    __table_args__ = (sa.UniqueConstraint("drop_id", "user_id", name="uq_draw_entries_user"),)

    id: str = Field(primary_key=True, max_length=32)
    drop_id: int = Field(index=True)
    user_id: int = Field(foreign_key="users.id")
    status: str = Field(max_length=12)
    address: str = Field(default="", max_length=32)   # the client address tag (keyed hash), never an address
    variant: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    changed_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DrawRank(SQLModel, table=True):
    """A winner's or backup's place in the draw (1-based), and what became of it: won, backup, then
    lapsed (a win not bought in time) or won for a backup whose turn came, until buy_until. Lost
    entries have no row (nothing of theirs changes): their ranks are in the draw's pages."""

    __tablename__ = "draw_ranks"
    __table_args__ = (sa.Index("ix_draw_ranks_user", "drop_id", "user_id"),)

    drop_id: int = Field(primary_key=True)
    entry_id: str = Field(primary_key=True, max_length=32)
    user_id: int
    rank: int
    status: str = Field(max_length=8)
    buy_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DrawPage(SQLModel, table=True):
    """The draw's every entry as the draw ranked it, packed: "<entry id> <rank> <status>" lines sorted
    by entry id (status won, backup or lost as drawn; what became of a win is in draw_ranks), a page
    of lines a row, keyed by its last entry id. Written in one statement per thousand pages instead of
    a row per entry, and read by a page: an entrant's rank, entries.txt and results.txt."""

    __tablename__ = "draw_pages"

    drop_id: int = Field(primary_key=True)
    last_entry: str = Field(primary_key=True, max_length=32)
    lines: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
