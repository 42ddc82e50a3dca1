"""The waitlist's answers."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class WaitlistOut(BaseModel):
    """The caller's place: waiting at `position` (1-based), or holding a unit until `held_until`."""

    status: Literal["waiting", "held"]
    position: int | None = Field(description="1-based place among those waiting; null while a unit is held")
    held_until: datetime | None = Field(default=None, description="a unit is held for the caller until then")
