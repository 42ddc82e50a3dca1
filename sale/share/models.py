from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


def _ts(nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class ShareLink(SQLModel, table=True):
    """One row per paid order. No foreign key to orders: the order row is written by the sink and may
    land a few ms after the pay request that makes this one. What the page needs is copied here."""

    __tablename__ = "share_links"

    order_id: str = Field(primary_key=True, max_length=64)
    token: str = Field(max_length=32, unique=True, index=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    drop_id: int = Field(foreign_key="drops.id")
    sku: str = Field(max_length=64)
    ordered_at: datetime = Field(sa_column=_ts())  # the order's creation: "got one in N seconds"
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())  # of this token
    revoked_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    show_name: bool = Field(default=False, sa_column=sa.Column(sa.Boolean(), nullable=False,
                                                                server_default=sa.false()))
