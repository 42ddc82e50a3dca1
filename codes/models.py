from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class CodeStatus(StrEnum):
    """Stored states; `expired` is never stored: it follows from `expires_at` for an available code."""

    available = "available"
    reserved = "reserved"
    redeemed = "redeemed"
    expired = "expired"
    revoked = "revoked"


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class FCode(SQLModel, table=True):
    """The record of one F-code. Redis holds the live state (keyed by `code_hash`); this follows it,
    ordered by `version`."""

    __tablename__ = "fcodes"
    __table_args__ = (sa.UniqueConstraint("owner_id", "month", "slot", name="uq_fcodes_owner_month_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, index=True)
    code_enc: str = Field(max_length=255)
    owner_id: int = Field(foreign_key="users.id", index=True)
    month: str = Field(max_length=7, index=True)
    slot: int
    sku: str | None = Field(default=None, max_length=64)
    status: str = Field(default=CodeStatus.available.value, max_length=16)
    order_id: str | None = Field(default=None, max_length=64)
    buyer_id: int | None = Field(default=None)
    gifted_to_id: int | None = Field(default=None, foreign_key="users.id")
    gift_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    expires_at: datetime = Field(sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    version: int = 0
