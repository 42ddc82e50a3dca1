"""The waiting room's use cases: challenge, join, ticket, counts. Redis only: no SQL on any of them
once the drop's state is in Redis (the first touch of a drop loads it)."""
from __future__ import annotations

import math
from typing import Any

from core.clock import iso_ms
from core.errors import RateLimited
from sale.exceptions import SoldOut
from sale.loader import DropLoader
from sale.queue.challenge import Challenges
from sale.queue.exceptions import ChallengeFailed, NotInQueue, NoWaitingRoom, QueueNotOpen
from sale.queue.gate import QueueGate, QueueState
from sale.queue.schemas import TicketOut
from sale.reserved import ReservationWindow
from sale.schemas import QueueCounts

JOIN_REFUSALS = {"queue_not_open": QueueNotOpen, "challenge_failed": ChallengeFailed, "sold_out": SoldOut}


def ticket_out(state: QueueState) -> TicketOut:
    waiting = state.status in ("waiting", "sold_out")
    # Placed beyond the units no admitted buyer holds, a ticket's turn comes when units come back
    # (unpaid, cancelled, unused admissions), not at the pace: no time is promised then.
    for_units = state.status == "waiting" and state.position is not None and state.position > state.free_units
    eta = None
    if state.status == "waiting" and state.position is not None and not for_units:
        eta = math.ceil(state.position / max(1, state.admit_per_second))
    return TicketOut(status=state.status, position=state.position if waiting else None,
                     eta_seconds=eta, waiting_for_units=for_units, admitted_until=iso_ms(state.admitted_until_ms),
                     starts_at=iso_ms(state.starts_at_ms), waiting=state.waiting,
                     admit_per_second=state.admit_per_second, paused=state.paused, notice=state.notice or None)


class QueueService:
    def __init__(self, gate: QueueGate, challenges: Challenges, loader: DropLoader,
                 reserved: ReservationWindow) -> None:
        self.gate = gate
        self.reserved = reserved  # the reservation-only window (issue 22)
        self.challenges = challenges
        self.loader = loader

    async def _state(self, drop_id: int, user_id: int | None) -> QueueState:
        async def missing(state: QueueState | str) -> bool:
            return state == "missing"

        # The drop is loaded if Redis lacks it (raising drop_not_found for one SQL lacks too).
        state = await self.loader.retry_missing(drop_id, lambda: self.gate.poll(drop_id, user_id), missing)
        if isinstance(state, QueueState):
            return state
        raise NoWaitingRoom()  # "off", or still missing after the drop was loaded

    async def challenge(self, drop_id: int, user_id: int) -> dict[str, Any]:
        await self._state(drop_id, None)
        return self.challenges.create(drop_id, user_id, await self.gate.joins_last_second(drop_id))

    async def join(self, drop_id: int, user_id: int, address: str, payload: str | None) -> TicketOut:
        await self.reserved.admit(drop_id, user_id, joining=True)
        solution = self.challenges.verify(payload, drop_id, user_id) if payload else None

        async def missing(outcome: str) -> bool:
            return outcome == "missing"

        outcome = await self.loader.retry_missing(
            drop_id, lambda: self.gate.join(drop_id, user_id, address, solution), missing)
        if outcome in ("off", "missing"):
            raise NoWaitingRoom()
        if outcome == "rate_limited":
            raise RateLimited(60, "Too many joins from this account or address; try again later")
        if outcome in JOIN_REFUSALS:
            raise JOIN_REFUSALS[outcome]()
        if await self.reserved.has_channel(drop_id, user_id):
            await self.gate.keep(drop_id, user_id)  # told at admission: no polls needed (issue 22)
        return await self.ticket(drop_id, user_id)

    async def admissions_to_tell(self, drop_id: int) -> list[tuple[bytes, int, int]]:
        return await self.gate.admissions_to_tell(drop_id)

    async def in_line(self, drop_id: int) -> list[int]:
        """Accounts whose waiting-room ticket is waiting or admitted."""
        return await self.gate.in_line(drop_id)

    async def told(self, drop_id: int, entries: list[tuple[bytes, int, int]]) -> None:
        await self.gate.told(drop_id, entries)

    async def ticket(self, drop_id: int, user_id: int) -> TicketOut:
        state = await self._state(drop_id, user_id)
        if state.status == "none":
            raise NotInQueue()
        return ticket_out(state)

    async def counts(self, drop_id: int) -> QueueCounts | None:
        state = await self.gate.poll(drop_id, None)
        if not isinstance(state, QueueState):
            return None
        return QueueCounts(waiting=state.waiting, admitted=state.admitted, done=state.done, expired=state.expired)

    async def advance(self, drop_id: int) -> None:
        """One step of the meter (the background loop's, for rooms nobody polls)."""
        await self.gate.poll(drop_id, None)
