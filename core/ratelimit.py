"""Request limits in Redis, counted before the decision: INCR first, then compare (one pipeline),
so a burst of parallel requests cannot all pass a check made before any of them was counted."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import RateLimited
from core.redis import RedisClient


@dataclass(frozen=True, slots=True)
class Hit:
    count: int  # this request included
    ttl: int    # seconds until the window ends

    def over(self, limit: int) -> bool:
        return self.count > limit

    def refuse(self, detail: str) -> RateLimited:
        return RateLimited(max(1, self.ttl), detail)


class Counters:
    """Fixed-window counters, one per key. No MULTI: the keys may live in different Cluster slots;
    each INCR is atomic on its own, which is what the count-then-compare order needs."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def hit(self, keys: Sequence[tuple[str, int]]) -> list[Hit]:
        """Counts one request on each (key, window seconds); returns the counts with this one."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, window in keys:
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
                pipe.ttl(key)
            replies = await pipe.execute()
        return [Hit(int(count), int(ttl) if int(ttl) > 0 else window)
                for (_, window), count, ttl in zip(keys, replies[0::3], replies[2::3], strict=True)]

    async def forgive(self, keys: Sequence[str]) -> None:
        """Takes back one count from each key: the request turned out not to be a failure."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.decr(key)
            await pipe.execute()


class FailureLimiter:
    """Refuses with 429 once `limit` failures were recorded for any of the given keys in the window."""

    def __init__(self, redis: RedisClient, *, limit: int, window_seconds: int) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window_seconds
        self.counters = Counters(redis)

    async def attempt(self, keys: Sequence[str], detail: str) -> None:
        """Counts this attempt as a failure before it is decided; 429 past the limit. A success
        afterwards calls `forgive`."""
        hits = await self.counters.hit([(key, self.window) for key in keys])
        for hit in hits:
            if hit.over(self.limit):
                await self.forgive(keys)  # refused without being evaluated: no failure to keep
                raise hit.refuse(detail)

    async def forgive(self, keys: Sequence[str]) -> None:
        await self.counters.forgive(keys)
