from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class StoreFlag(SQLModel, table=True):
    """Something done once for the whole store; the primary key makes a second attempt fail."""

    __tablename__ = "store_flags"

    name: str = Field(primary_key=True, max_length=64)
    set_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
