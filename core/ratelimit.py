"""Failure limits (login, F-code attempts): a counter per scope in a fixed window, in Redis."""
from __future__ import annotations

from core.errors import RateLimited
from core.redis import RedisClient


class FailureLimiter:
    """Refuses with 429 once `limit` failures were recorded for any of the given keys in the window."""

    def __init__(self, redis: RedisClient, *, limit: int, window_seconds: int) -> None:
        self.redis = redis
        self.limit = limit
        self.window = window_seconds

    async def check(self, keys: list[str]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.ttl(key)
            values = await pipe.execute()
        for count, ttl in zip(values[0::2], values[1::2], strict=True):
            if count is not None and int(count) >= self.limit:
                raise RateLimited(int(ttl) if ttl and int(ttl) > 0 else self.window,
                                  "Too many failed attempts; try again later")

    async def record_failure(self, keys: list[str]) -> None:
        # No MULTI: the keys (account, address) live in different Cluster slots.
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, self.window, nx=True)
            await pipe.execute()

    async def reset(self, keys: list[str]) -> None:
        # One DEL per key: the keys live in different Cluster slots.
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key)
            await pipe.execute()
