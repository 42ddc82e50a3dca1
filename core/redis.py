"""Redis client and Lua script registry, made in the lifespan."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any, TypeAlias

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError

RedisClient: TypeAlias = "Redis"
ScriptArg: TypeAlias = str | int | float | bytes


class HiredisPackedConnection(Connection):
    """Packs commands with hiredis (C) instead of redis-py's per-argument Python encoder: the
    purchase script's EVALSHA carries twenty arguments, and packing them was a visible cost."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:
            args = (*args[0].split(), *args[1:])  # "SCRIPT LOAD" and friends are two words on the wire
        return [hiredis.pack_command(args)]


def make_redis(url: str, *, max_connections: int = 128) -> Redis:
    # A blocking pool: a burst of requests waits briefly for a connection instead of failing.
    kwargs: dict[str, Any] = {}
    if url.startswith("redis://"):
        kwargs["connection_class"] = HiredisPackedConnection
    # Timeouts instead of hangs, and no silent retries (the pool's connections retry 0 times): a
    # script whose reply was lost may have run (a retried purchase would take a second unit), so a
    # failed call is the request's 503, and the client retries it safely with its Idempotency-Key.
    pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10,
                                           health_check_interval=30, socket_keepalive=True,
                                           socket_connect_timeout=10, socket_timeout=30, **kwargs)
    return Redis(connection_pool=pool, decode_responses=False)


class LuaScript:
    """One .lua file, called by EVALSHA and loaded again when the server answers NOSCRIPT."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def load(self, redis: Redis) -> None:
        await redis.script_load(self.source)

    async def __call__(self, redis: Redis, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.load(redis)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        """Adds a call to a pipeline; run the pipeline with raise_on_error=False, then `settle` the reply."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def settle(self, redis: Redis, reply: Any, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """The reply of a pipelined call: a server that lost its scripts (NOSCRIPT) gets this one again
        and the call is repeated; any other error is raised."""
        if isinstance(reply, NoScriptError):
            return await self(redis, keys, args)
        if isinstance(reply, Exception):
            raise reply
        return reply


def load_script(package: str, filename: str) -> LuaScript:
    source = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return LuaScript(filename.removesuffix(".lua"), source)


class ScriptRegistry:
    """All scripts of the service, registered once at start-up (SCRIPT LOAD)."""

    def __init__(self) -> None:
        self._scripts: dict[str, LuaScript] = {}

    def add(self, package: str, filename: str) -> LuaScript:
        script = load_script(package, filename)
        self._scripts[script.name] = script
        return script

    def __getitem__(self, name: str) -> LuaScript:
        return self._scripts[name]

    async def load_all(self, redis: Redis) -> None:
        for script in self._scripts.values():
            await script.load(redis)
