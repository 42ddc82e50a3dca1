"""The waitlist for its members (join, leave, look) and its upkeep (the sweeper's offer step)."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from core.errors import ServiceUnavailable
from sale.exceptions import LimitReached
from sale.inventory import DropFenced
from sale.loader import DropLoader
from sale.waitlist.exceptions import NotOnWaitlist, NotSoldOut, WaitlistClosed
from sale.waitlist.gate import Offered, Standing, WaitlistGate
from sale.waitlist.schemas import WaitlistOut

log = logging.getLogger("flashsale.waitlist")


def _out(standing: Standing) -> WaitlistOut:
    if standing.outcome == "held":
        return WaitlistOut(status="held", position=None,
                           held_until=datetime.fromtimestamp(standing.until_ms / 1000, UTC))
    return WaitlistOut(status="waiting", position=standing.position)


class WaitlistService:
    def __init__(self, gate: WaitlistGate, loader: DropLoader) -> None:
        self.gate = gate
        self.loader = loader

    async def _act(self, drop_id: int, action: str, user_id: int) -> Standing:
        async def missing(standing: Standing) -> bool:
            return standing.outcome == "missing"

        # The drop is loaded if Redis lacks it (raising drop_not_found for one SQL lacks too).
        standing = await self.loader.retry_missing(drop_id, lambda: self.gate.act(drop_id, action, user_id), missing)
        if standing.outcome == "missing":
            raise ServiceUnavailable(detail="The drop's live state is being rebuilt; retry shortly.")
        return standing

    async def join(self, drop_id: int, user_id: int) -> WaitlistOut:
        """The caller's place, new or the same again (or the unit held for it)."""
        standing = await self._act(drop_id, "join", user_id)
        if standing.outcome == "not_sold_out":
            raise NotSoldOut()
        if standing.outcome == "closed":
            raise WaitlistClosed()
        if standing.outcome == "limit_reached":
            raise LimitReached()
        return _out(standing)

    async def standing(self, drop_id: int, user_id: int) -> WaitlistOut:
        standing = await self._act(drop_id, "look", user_id)
        if standing.outcome not in ("waiting", "held"):
            raise NotOnWaitlist()
        return _out(standing)

    async def leave(self, drop_id: int, user_id: int) -> None:
        """Off the waitlist, or the held unit given up (it passes to the next at once)."""
        if (await self._act(drop_id, "leave", user_id)).outcome != "left":
            raise NotOnWaitlist()

    async def members(self, drop_id: int) -> list[int]:
        """Accounts on the drop's waitlist, waiting or holding a unit."""
        return await self.gate.members(drop_id)

    async def offer(self, drop_id: int) -> Offered:
        """The sweeper's step: holds past their time pass on, units that came back offered in order."""
        try:
            offered = await self.gate.offer(drop_id)
        except DropFenced:
            return Offered(0, 0)  # merged back from SQL by the failover rebuild first; the next step offers
        if offered.made or offered.passed:
            log.info("drop %s waitlist: %d holds made, %d passed on", drop_id, offered.made, offered.passed)
        return offered
