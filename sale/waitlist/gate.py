"""The waitlist in Redis: thin wrappers over its Lua scripts (one method each, one round trip)."""
from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry
from sale.inventory import DropFenced

SCRIPTS = ("waitlist_join.lua", "waitlist_offer.lua")
HOLDS_PER_STEP = 500


def register_scripts(scripts: ScriptRegistry) -> None:
    for name in SCRIPTS:
        scripts.add("sale.waitlist.lua", name)


@dataclass(frozen=True, slots=True)
class Standing:
    """waitlist_join.lua's answer: the outcome ("waiting", "held", "none", "left", "not_sold_out",
    "closed", "limit_reached", "missing"), the place while waiting, the hold's units and end."""

    outcome: str
    position: int = 0
    units: int = 0
    until_ms: int = 0


@dataclass(frozen=True, slots=True)
class Offered:
    """What one waitlist_offer.lua call did: holds made, holds passed on."""

    made: int
    passed: int


class WaitlistGate:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: ScriptRegistry, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self._join = scripts["waitlist_join"]
        self._offer = scripts["waitlist_offer"]

    async def act(self, drop_id: int, action: str, user_id: int) -> Standing:
        """waitlist_join.lua: "join", "leave" or "look"; raises DropFenced (nothing done)."""
        k = self.keys.drop(drop_id)
        reply = await self._join(self.redis, (k.inv, k.waitlist, k.waitlist_holds, k.users),
                                 (self.clock.now_ms(), action, user_id))
        outcome = reply[0].decode()
        if outcome == "fenced":
            raise DropFenced(drop_id)
        if outcome == "waiting":
            return Standing(outcome, position=int(reply[1]))
        if outcome == "held":
            return Standing(outcome, units=int(reply[1]), until_ms=int(reply[2]))
        return Standing(outcome)

    async def members(self, drop_id: int, batch: int = 1000) -> list[int]:
        """User ids waiting or holding a unit, read with ZSCAN/HSCAN in batches (never blocking Redis)."""
        k = self.keys.drop(drop_id)
        found = [int(user_id) async for user_id, _ in self.redis.zscan_iter(k.waitlist, count=batch)]
        found += [int(user_id) async for user_id, _ in self.redis.hscan_iter(k.waitlist_holds, count=batch)]
        return found

    async def offer(self, drop_id: int, most: int = HOLDS_PER_STEP) -> Offered:
        """waitlist_offer.lua: holds past their time pass on, free units offered in order."""
        k = self.keys.drop(drop_id)
        reply = await self._offer(self.redis, (k.inv, k.waitlist, k.waitlist_holds, k.users, k.stream),
                                  (self.clock.now_ms(), most))
        outcome = reply[0].decode()
        if outcome == "fenced":
            raise DropFenced(drop_id)
        if outcome != "ok":
            return Offered(0, 0)
        return Offered(int(reply[1]), int(reply[2]))
