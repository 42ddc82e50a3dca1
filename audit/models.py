from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class AuditEntry(SQLModel, table=True):
    """Append-only: nothing in the service updates or deletes a row, and on PostgreSQL (and SQLite) a
    trigger refuses UPDATE and DELETE (the migration 0010)."""

    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    # Who, as they were at the time (no foreign key: the entry outlives any change to the account).
    actor_id: int | None = Field(default=None)
    actor_email: str = Field(max_length=320)
    client: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
