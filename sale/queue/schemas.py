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
    eta_seconds: int | None = Field(description="seconds until the admission at the current pace; null before "
                                               "starts_at, once admitted, and while waiting_for_units")
    waiting_for_units: bool = Field(description="true while this ticket's admission waits for units to come back "
                                                "(every unit it could get is held by an admitted buyer), not for "
                                                "the pace: eta_seconds is null then")
    admitted_until: datetime | None
    # Beyond the contract: what the page needs to draw its progress
    starts_at: datetime
    waiting: int
    admit_per_second: int
    # The operator's controls, so the waiting room shows them at its next poll (1-2 s)
    paused: bool = False
    notice: str | None = None
