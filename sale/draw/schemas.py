from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.types import Sku

EntryStatus = Literal["entered", "won", "backup", "lost", "bought", "lapsed"]


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: Sku | None = None


class EntryOut(BaseModel):
    id: str
    status: EntryStatus
    rank: int | None = None            # the place in the draw (1-based), once it is made
    buy_until: datetime | None = None  # a standing win: buy before this
    voided: bool = False               # an operator voided the entry before the draw (it is not in it)


class DrawOut(BaseModel):
    """The draw as anyone may check it: the commitment from the moment entries open, the seed (and the
    figures) from the draw on."""

    drop_id: int
    commitment: str | None = Field(description="hex SHA-256 of the seed's bytes, from entries_open_at")
    seed: str | None = Field(description="the seed's 32 bytes as hex, from the draw on")
    entries: int = Field(description="entries standing (in the draw, once made); voided ones are not counted")
    winners: int | None = Field(description="how many won (the units left at the draw, or fewer entries)")
    backups: int | None = Field(description="how many backups follow the winners, in rank order")
    voided: int = Field(description="entries an operator voided before the draw")
    entries_open_at: datetime
    entries_close_at: datetime
    draw_at: datetime
    drawn_at: datetime | None = None
    entries_url: str = Field(description="every entry id in the draw, one a line (from the draw on)")
    results_url: str = Field(description="'<entry id> <rank> <status>' a line, by entry id (from the draw on)")
    verify_url: str = Field(description="a standard-library Python script that recomputes every rank")


class LinkedEntry(BaseModel):
    """An entry that looks linked to others (operator view, before the draw)."""

    entry_id: str
    user_id: int
    email: str
    created_at: datetime
    reasons: list[str]     # "address", "payment", "burst"
    group: str             # what links it: the shared address tag, fingerprint or burst window


class VoidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entry_ids: list[str] = Field(min_length=1, max_length=10_000)
    reason: str = Field(default="", max_length=200)


class VoidOut(BaseModel):
    voided: list[str]
