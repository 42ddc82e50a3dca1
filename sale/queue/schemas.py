from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TicketStatus = Literal["waiting", "admitted", "done", "expired", "sold_out"]


class JoinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    altcha: Annotated[str, StringConstraints(max_length=8192)] | None = None


class TicketOut(BaseModel):
    status: TicketStatus
    position: int | None = Field(description="1-based place among those still waiting; null once admitted "
                                             "and before starts_at (places are drawn then)")
    eta_seconds: int | None
    admitted_until: datetime | None
    # Beyond the contract: what the page needs to draw its progress
    starts_at: datetime
    waiting: int
    admit_per_second: int
