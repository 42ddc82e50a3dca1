from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.clock import utcnow


class Role(StrEnum):
    shopper = "shopper"
    employee = "employee"
    operator = "operator"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True, index=True)
    display_name: str | None = Field(default=None, max_length=80)
    password_hash: str = Field(max_length=255)
    role: str = Field(default=Role.shopper.value, max_length=16)
    # Raised by a role change, a password change and "sign out everywhere": older tokens stop working.
    token_version: int = Field(default=0, sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"))
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
