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
CHANNEL_MARK_MS = 2**52  # a `seen` score no poll reaches: the ticket of a holder with a channel never goes stale


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
            self.redis, (k.inv, k.queue, k.line, k.seen, k.admitted, k.tickets, self.keys.queue_told(drop_id)),
            (self.clock.now_ms(), "" if user_id is None else user_id, lim.admission_ms, lim.stale_ms, STEP_BATCH))
        if len(result) == 1:
            return str(result[0].decode())
        status, position, until, rate, waiting, starts, admitted, done, expired, free, paused, notice = result
        return QueueState(status.decode(), None if position < 0 else int(position), None if until < 0 else int(until),
                          max(0, int(free)), int(rate), int(waiting), int(starts), int(admitted), int(done),
                          int(expired), paused == 1, notice.decode())

    async def keep(self, drop_id: int, user_id: int) -> None:
        """The ticket has a channel: it keeps its place without polls (its `seen` mark in the future)."""
        await self.redis.zadd(self.keys.drop(drop_id).seen, {str(user_id): CHANNEL_MARK_MS}, xx=True)

    async def admissions_to_tell(self, drop_id: int, count: int = 500) -> list[tuple[bytes, int, int]]:
        """Admissions of tickets with a channel not told yet: (entry id, user id, admitted_until ms)."""
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await self.redis.xrange(  # type: ignore[assignment]
            self.keys.queue_told(drop_id), count=count)
        return [(entry_id, int(fields[b"u"]), int(fields[b"until"])) for entry_id, fields in entries or []]

    async def told(self, drop_id: int, entries: list[tuple[bytes, int, int]]) -> None:
        """The messages are in the outbox: each admission lasts until its `until` at least, and the
        entries go."""
        if not entries:
            return
        k = self.keys.drop(drop_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _, user_id, until in entries:
                pipe.zadd(k.admitted, {str(user_id): until}, xx=True, gt=True)
            pipe.xdel(self.keys.queue_told(drop_id), *(entry_id for entry_id, _, _ in entries))
            await pipe.execute()

    async def in_line(self, drop_id: int, batch: int = 1000) -> list[int]:
        """User ids whose ticket is waiting or admitted (not done or expired), read with HSCAN in batches:
        a long line never blocks Redis for the buyers."""
        found: list[int] = []
        async for user_id, status in self.redis.hscan_iter(self.keys.drop(drop_id).tickets, count=batch):
            if status in (b"w", b"a"):
                found.append(int(user_id))
        return found

    async def joins_last_second(self, drop_id: int) -> int:
        """Joins in the last whole second (the challenge's difficulty follows it)."""
        k = self.keys.drop(drop_id)
        second = self.clock.now_ms() // 1000
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(k.join_rate_prefix + str(second - 1))
            pipe.get(k.join_rate_prefix + str(second))
            previous, current = await pipe.execute()
        return max(int(previous or 0), int(current or 0))
