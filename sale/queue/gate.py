"""The waiting room in Redis: thin wrappers over its Lua scripts (one round trip each)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.clock import Clock
from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry

SCRIPTS = ("queue_join.lua", "queue_poll.lua")
PLACE_BITS = 52  # places drawn below 2^52; later arrivals get 2^52 + n (exact in a double score)
STEP_BATCH = 500


def register_scripts(scripts: ScriptRegistry) -> None:
    for name in SCRIPTS:
        scripts.add("sale.queue.lua", name)


@dataclass(frozen=True, slots=True)
class QueueLimits:
    admission_ms: int
    stale_ms: int
    joins_per_address: int
    address_window_seconds: int
    attempts_per_account_minute: int
    solution_ttl_seconds: int


@dataclass(frozen=True, slots=True)
class QueueState:
    """A poll's answer: one buyer's ticket (status "none" without one) and the room's counts."""

    status: str
    position: int | None
    admitted_until_ms: int | None
    # Units left that no admitted buyer holds (admitted buyers refused a purchase hold none): a waiting
    # ticket placed beyond them waits for units to come back, not for the pace.
    free_units: int
    admit_per_second: int
    waiting: int
    starts_at_ms: int
    admitted: int
    done: int
    expired: int
    paused: bool = False  # an operator paused the drop: nobody is admitted meanwhile
    notice: str = ""      # the operator's message to everyone in the drop, "" for none


class QueueGate:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: ScriptRegistry, limits: QueueLimits,
                 clock: Clock) -> None:
        self.redis = redis
        self.clock = clock
        self.keys = keys
        self.limits = limits
        self._join = scripts["queue_join"]
        self._poll = scripts["queue_poll"]

    async def join(self, drop_id: int, user_id: int, address: str, solution: str | None) -> str:
        """"joined", "exists", "missing", "off" or a refusal code (see queue_join.lua)."""
        k = self.keys.drop(drop_id)
        now = self.clock.now_ms()
        lim = self.limits
        result = await self._join(
            self.redis,
            (k.inv, k.queue, k.line, k.seen, k.tickets, k.join_addr_prefix + address,
             k.join_user_prefix + str(user_id), k.join_rate_prefix + str(now // 1000),
             k.solution_prefix + (solution or "-")),
            (now, user_id, secrets.randbits(PLACE_BITS), "1" if solution else "0", lim.solution_ttl_seconds,
             lim.joins_per_address, lim.address_window_seconds, lim.attempts_per_account_minute),
        )
        return str(result[0].decode())

    async def poll(self, drop_id: int, user_id: int | None) -> QueueState | str:
        """Advances the meter; the buyer's ticket and the counts, or "missing" / "off"."""
        k = self.keys.drop(drop_id)
        lim = self.limits
        result = await self._poll(
            self.redis, (k.inv, k.queue, k.line, k.seen, k.admitted, k.tickets),
            (self.clock.now_ms(), "" if user_id is None else user_id, lim.admission_ms, lim.stale_ms, STEP_BATCH))
        if len(result) == 1:
            return str(result[0].decode())
        status, position, until, rate, waiting, starts, admitted, done, expired, free, paused, notice = result
        return QueueState(status.decode(), None if position < 0 else int(position), None if until < 0 else int(until),
                          max(0, int(free)), int(rate), int(waiting), int(starts), int(admitted), int(done),
                          int(expired), paused == 1, notice.decode())

    async def joins_last_second(self, drop_id: int) -> int:
        """Joins in the last whole second (the challenge's difficulty follows it)."""
        k = self.keys.drop(drop_id)
        second = self.clock.now_ms() // 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(k.join_rate_prefix + str(second - 1))
            pipe.get(k.join_rate_prefix + str(second))
            previous, current = await pipe.execute()
        return max(int(previous or 0), int(current or 0))
