"""The drop catalog: what listings and drop pages show, read from Redis, never one SQL query per poll.

Redis holds every drop not long ended as JSON in one hash, with a version counter bumped on each
change (an operator creating a drop; the sweeper keeping it equal to SQL every few seconds). Each
worker keeps a copy and looks at the version at most every CHECK_SECONDS, so a change made by any
worker shows everywhere within that time (at once in the worker that made it). Only a drop the
catalog lacks (long ended, or unknown) costs one SQL read, remembered until the version moves.
"""
from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, as_utc, ms
from core.keys import Keys
from core.redis import LuaScript, RedisClient, ScriptArg
from sale.models import Drop
from sale.repository import DropRepository

CHECK_SECONDS = 0.5
KEEP_AFTER_END = timedelta(hours=1)
MAX_OTHERS = 10_000  # drops outside the catalog remembered per version (ended ones, unknown ids)
FIELDS = ("id", "sku", "name", "price_cents", "currency", "stock", "per_user_limit", "pay_window_seconds", "image",
          "waiting_room", "prequeue_minutes", "admit_per_second", "challenge", "paused", "notice",
          "reservation_only_minutes", "shipping_required", "pictures", "variants", "description", "specs",
          "mode", "backups", "waitlist_hold_minutes")
TIMES = ("priority_starts_at", "starts_at", "ends_at", "created_at")
MAYBE_TIMES = ("entries_open_at", "entries_close_at")


def drop_record_json(drop: Drop) -> bytes:
    values: dict[str, Any] = {name: getattr(drop, name) for name in FIELDS}
    values.update({name: ms(getattr(drop, name)) for name in TIMES})
    values.update({name: ms(getattr(drop, name)) if getattr(drop, name) else None for name in MAYBE_TIMES})
    return orjson.dumps(values)


def drop_from_json(raw: bytes) -> Drop:
    values = orjson.loads(raw)
    for name in TIMES:
        values[name] = datetime.fromtimestamp(values[name] / 1000, UTC)
    for name in MAYBE_TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromtimestamp(values[name] / 1000, UTC)
    return Drop(**values)


class Unchecked(enum.Enum):
    """`sync` without a version to check: write whatever the catalog holds now."""

    UNCHECKED = "unchecked"


UNCHECKED = Unchecked.UNCHECKED


class DropCatalog:
    def __init__(self, redis: RedisClient, keys: Keys, sessions: async_sessionmaker[AsyncSession],
                 clock: Clock, sync_script: LuaScript) -> None:
        self.redis = redis
        self.sync_script = sync_script  # catalog_sync.lua
        self.keys = keys
        self.sessions = sessions
        self.clock = clock
        self._drops: dict[int, Drop] = {}
        self._others: dict[int, Drop | None] = {}
        self._version: bytes | None = None
        self._checked = 0.0
        self._puts = 0  # this worker's own changes: a refresh that overlapped one is not trusted
        self._lock = asyncio.Lock()

    async def current(self) -> list[Drop]:
        """Drops not yet ended, soonest first."""
        await self._fresh()
        now = self.clock.now()
        live = [d for d in self._drops.values() if as_utc(d.ends_at) > now]
        return sorted(live, key=lambda d: (as_utc(d.starts_at), d.id or 0))

    async def get(self, drop_id: int) -> Drop | None:
        await self._fresh()
        drop = self._drops.get(drop_id)
        if drop is not None:
            return drop
        if drop_id not in self._others:
            async with self.sessions() as session:
                found = await DropRepository(session).get(drop_id)
            if len(self._others) >= MAX_OTHERS:
                self._others.clear()
            self._others[drop_id] = found
        return self._others[drop_id]

    async def listed(self, drop_id: int) -> Drop | None:
        """The drop if the catalog lists it (not long ended), without the SQL read `get` makes for
        one it lacks: for the purchase path, where an unknown drop id must not cost SQL."""
        await self._fresh()
        return self._drops.get(drop_id)

    async def put(self, drop: Drop) -> None:
        """A drop created or changed by an operator: every worker's copy goes stale at once."""
        assert drop.id is not None
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.drop_catalog, str(drop.id), drop_record_json(drop))
            pipe.incr(self.keys.drop_catalog_version)
            await pipe.execute()
        self._drops[drop.id] = drop
        self._others.pop(drop.id, None)
        self._puts += 1
        self._checked = 0.0

    async def version(self) -> bytes | None:
        """The catalog's version now: read it before reading SQL, hand it to `sync`."""
        return await self._version_now()

    async def sync(self, drops: Sequence[Drop], seen: bytes | Unchecked | None = UNCHECKED) -> bool:
        """Makes the catalog hold exactly these drops (SQL's, not long ended); True when it changed.

        With `seen` (the version read before the drops were read from SQL), nothing is written when
        an operator's change came in meanwhile: that change was committed after the SQL read, so these
        drops would undo it (a new drop gone, a picture lost). The next check syncs instead."""
        wanted = {str(d.id): drop_record_json(d) for d in drops if d.id is not None}
        held = await self._held()
        have = {key.decode(): value for key, value in held.items()}
        changed = {key: value for key, value in wanted.items() if have.get(key) != value}
        gone = [key for key in have if key not in wanted]
        if not changed and not gone and await self.redis.exists(self.keys.drop_catalog_version):
            return False
        if isinstance(seen, Unchecked):
            args: list[ScriptArg] = [0, b"", len(changed)]
        else:  # None: the catalog had no version then
            args = [1, seen or b"", len(changed)]
        for key, value in changed.items():
            args += [key, value]
        args += gone
        # Checked and written in one step: a put landing between a check and a write would be undone.
        if not await self.sync_script(self.redis, (self.keys.drop_catalog, self.keys.drop_catalog_version), args):
            return False
        self._checked = 0.0
        return True

    async def _fresh(self) -> None:
        if time.monotonic() - self._checked < CHECK_SECONDS:
            return
        async with self._lock:
            if time.monotonic() - self._checked < CHECK_SECONDS:
                return
            puts = self._puts
            version = await self._version_now()
            if version is None:
                await self._rebuild()  # a fresh or emptied Redis: SQL once
                version = await self._version_now()
            if version != self._version:
                held = await self._held()
                self._drops = {int(key): drop_from_json(value) for key, value in held.items()}
                self._others = {}
                self._version = version
            # A put during this refresh may be missing from what was read: look again next time.
            self._checked = time.monotonic() if self._puts == puts else 0.0

    async def _version_now(self) -> bytes | None:
        version: bytes | None = await self.redis.get(self.keys.drop_catalog_version)  # type: ignore[assignment]
        return version

    async def _held(self) -> dict[bytes, bytes]:
        held: dict[bytes, bytes] = await self.redis.hgetall(self.keys.drop_catalog)  # type: ignore[assignment]
        return held

    async def _rebuild(self) -> None:
        async with self.sessions() as session:
            drops = await DropRepository(session).not_ended(self.clock.now() - KEEP_AFTER_END)
        await self.sync(drops)
