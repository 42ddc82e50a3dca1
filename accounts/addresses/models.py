from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class Address(SQLModel, table=True):
    """One of a buyer's shipping addresses. An order keeps its own copy (`orders.shipping`), so
    deleting an address never changes an order."""

    __tablename__ = "addresses"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    phone: str = Field(max_length=32)
    country: str = Field(max_length=2)
    region: str | None = Field(default=None, max_length=100)
    city: str = Field(max_length=100)
    line1: str = Field(max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
