"""Per-account token versions: what makes a role change, a password change or "sign out
everywhere" end every token issued before it, at once.

A token carries `ver`, its account's version when issued; a request is accepted only while that is
not below the account's current version in Redis (one script call). The record is the `users`
table's `token_version` column: when Redis lost the versions (no `ready` marker) they are rebuilt
from it before any token is accepted, never silently trusted. The purchase path does not call
this: each live drop holds a copy of the versions in its own hash slot (`DropKeys.tokver`), which
purchase.lua checks in the same round trip that takes the unit.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from core.errors import Unauthorized
from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry
from core.tokens import Claims

# Loads every account whose version is above 0 from the record: {user id: version}.
VersionRecord = Callable[[], Awaitable[dict[int, int]]]
SCRIPTS = ("token_version_check.lua", "token_version_raise.lua")
_BATCH = 500  # pairs per script call when copying many versions


def register_scripts(scripts: ScriptRegistry) -> None:
    for name in SCRIPTS:
        scripts.add("core.lua", name)


class TokenRevoked(Unauthorized):
    def __init__(self) -> None:
        super().__init__("This token was revoked (role or password changed, or signed out); sign in again")


class TokenVersions:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: ScriptRegistry, record: VersionRecord) -> None:
        self.redis = redis
        self.keys = keys
        self._check = scripts["token_version_check"]
        self._raise = scripts["token_version_raise"]
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
        """Records `version` (the account's new one, already in the record's transaction) everywhere
        tokens are checked: the account-wide hash, then every live drop's copy. A drop loaded in
        between copies the account-wide hash after registering as live, so it cannot miss this."""
        await self.current(user_id)  # makes sure the hash is built, so the bump is not lost in a rebuild
        pair = ((user_id, version),)
        await self._raise_all(self.keys.token_versions, pair)
        for drop_id in await self.redis.smembers(self.keys.active_drops):
            await self._raise_all(self.keys.drop(int(drop_id)).tokver, pair)

    async def copy_to_drop(self, drop_id: int) -> None:
        """Gives a drop that just became live the account-wide versions (called after it is in the
        active set, see bump)."""
        if not await self.redis.exists(self.keys.token_versions_ready):
            await self.rebuild()
        raw = await self.redis.hgetall(self.keys.token_versions)
        await self._raise_all(self.keys.drop(drop_id).tokver, ((int(k), int(v)) for k, v in raw.items()))

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
