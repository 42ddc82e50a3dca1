"""Per-account token versions: what makes a role change, a password change or "sign out
everywhere" end every token issued before it.

A token carries `ver`, its account's version when issued; a request is accepted only while that is
not below the account's current version. The record is the `users` table's `token_version` column;
Redis holds one account-wide hash in its own slot (rebuilt from the record when lost, never silently
trusted). Admin and signed-in routes check that hash at once (`check`: one script call). Purchases
and payments check `recent`: this worker's in-memory copy, refreshed at most every second from a
change log in the hash's own slot (a sorted set of user id by bump time, read since the last read),
so a revocation reaches the hot path within a second with no Redis command per purchase and no key
outside the drop's slot in its script. A bump made by this worker updates its copy at once.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from core.clock import SYSTEM_CLOCK, Clock
from core.errors import Unauthorized
from core.keys import Keys
from core.redis import LuaScript, RedisClient, ScriptRegistry
from core.tokens import Claims

# Loads every account whose version is above 0 from the record: {user id: version}.
VersionRecord = Callable[[], Awaitable[dict[int, int]]]
_BATCH = 500  # pairs per script call when writing many versions
REFRESH_SECONDS = 1.0  # how stale this worker's copy may get (revocation reaches purchases within it)
# The change log is read from a little before the last read: bumps are scored by the bumping worker's
# clock, which may trail this one's; re-reading a few entries costs nothing.
CHANGE_SLACK_MS = 10_000
CHANGE_LOG_KEEP_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class VersionScripts:
    check: LuaScript   # token_version_check.lua
    raise_: LuaScript  # token_version_raise.lua


def register_scripts(scripts: ScriptRegistry) -> VersionScripts:
    return VersionScripts(scripts.add("core.lua", "token_version_check.lua"),
                          scripts.add("core.lua", "token_version_raise.lua"))


class TokenRevoked(Unauthorized):
    def __init__(self) -> None:
        super().__init__("This token was revoked (role or password changed, or signed out); sign in again")


class TokenVersions:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: VersionScripts, record: VersionRecord,
                 clock: Clock = SYSTEM_CLOCK, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self._known: dict[int, int] = {}      # this worker's copy: user id -> version (above 0)
        self._read_ms: int | None = None      # when the change log was last read (None: never)
        self._fresh_until = 0.0               # monotonic
        self._refreshing = asyncio.Lock()
        self._check = scripts.check
        self._raise = scripts.raise_
        self._record = record
        self._rebuilding = asyncio.Lock()

    async def current(self, user_id: int) -> int:
        """The account's version in Redis (rebuilt from the record first when Redis lost it)."""
        keys = (self.keys.token_versions, self.keys.token_versions_ready)
        version = int(await self._check(self.redis, keys, (str(user_id),)))
        if version < 0:
            await self.rebuild()
            version = int(await self._check(self.redis, keys, (str(user_id),)))
        return max(version, 0)

    async def check(self, claims: Claims) -> Claims:
        if claims.ver < await self.current(claims.user_id):
            raise TokenRevoked()
        return claims

    async def rebuild(self) -> None:
        async with self._rebuilding:
            if await self.redis.exists(self.keys.token_versions_ready):
                return  # another request of this process rebuilt it meanwhile
            versions = await self._record()
            await self._raise_all(self.keys.token_versions, versions.items(), ready=True)

    async def bump(self, user_id: int, version: int) -> None:
        """Records `version` (the account's new one, already in the record's transaction): the hash,
        then the change log other workers poll, then this worker's copy."""
        await self.current(user_id)  # makes sure the hash is built, so the bump is not lost in a rebuild
        await self._raise_all(self.keys.token_versions, ((user_id, version),))
        now = self.clock.now_ms()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.keys.token_versions_changes, {str(user_id): now})
            pipe.zremrangebyscore(self.keys.token_versions_changes, "-inf", now - CHANGE_LOG_KEEP_MS)
            await pipe.execute()
        self._known[user_id] = max(self._known.get(user_id, 0), version)

    async def recent(self, user_id: int) -> int:
        """The account's version as this worker saw it at most `refresh_seconds` ago (the hot path's)."""
        if time.monotonic() >= self._fresh_until:
            async with self._refreshing:  # one refresh at a time; the others wait for it
                if time.monotonic() >= self._fresh_until:
                    await self._refresh()
        return self._known.get(user_id, 0)

    async def check_recent(self, user_id: int, version: int) -> None:
        if version < await self.recent(user_id):
            raise TokenRevoked()

    async def _refresh(self) -> None:
        now = self.clock.now_ms()
        keys = self.keys
        since = self._read_ms
        ready = False
        if since is not None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.exists(keys.token_versions_ready)
                pipe.zrangebyscore(keys.token_versions_changes, since - CHANGE_SLACK_MS, "+inf")
                ready, changed = await pipe.execute()
            if ready and changed:
                found = await self.redis.hmget(keys.token_versions, changed)
                for user, value in zip(changed, found, strict=True):
                    if value is not None:
                        self._known[int(user)] = max(self._known.get(int(user), 0), int(value))
        if since is None or not ready:  # first read, or Redis lost the versions: all of them again
            if not await self.redis.exists(keys.token_versions_ready):
                await self.rebuild()
            raw = await self.redis.hgetall(keys.token_versions)
            for user, value in raw.items():
                self._known[int(user)] = max(self._known.get(int(user), 0), int(value))
        self._read_ms = now
        self._fresh_until = time.monotonic() + self.refresh_seconds

    async def _raise_all(self, key: str, pairs: Iterable[tuple[int, int]], *, ready: bool = False) -> None:
        batch: list[str | int] = []
        for user_id, version in pairs:
            batch.extend((str(user_id), version))
            if len(batch) >= 2 * _BATCH:
                await self._raise(self.redis, (key,), batch)
                batch = []
        if batch or ready:
            keys = (key, self.keys.token_versions_ready) if ready else (key,)
            await self._raise(self.redis, keys, batch)
