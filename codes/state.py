"""The live state of F-codes in RedisClient: thin wrappers over the codes' Lua scripts.

Every change SQL must follow is sent in one pipeline with a mark in the dirty hash, so one round
trip changes the code and records that the record is behind (see sync.py).
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import ResponseError

from codes.models import CodeStatus, FCode
from core.clock import Clock, ms
from core.keys import Keys
from core.redis import LuaScript, RedisClient, ScriptArg, ScriptRegistry

# A code's key outlives the code by this much: orders it is in may still be paid or released.
KEEP_AFTER_EXPIRY = timedelta(days=40)
KEEP_EXPIRED = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CodeScripts:
    """The F-codes' Lua scripts, registered once and handed to `CodeState` by name of field."""

    load: LuaScript
    lease: LuaScript
    confirm: LuaScript
    unlease: LuaScript
    order_end: LuaScript
    manage: LuaScript
    synced: LuaScript


def register_scripts(scripts: ScriptRegistry) -> CodeScripts:
    def add(name: str) -> LuaScript:
        return scripts.add("codes.lua", f"fcode_{name}.lua")

    return CodeScripts(load=add("load"), lease=add("lease"), confirm=add("confirm"), unlease=add("unlease"),
                       order_end=add("order_end"), manage=add("manage"), synced=add("synced"))


@dataclass(frozen=True, slots=True)
class LiveCode:
    """A code's state as RedisClient (or, when RedisClient lacks it, the SQL record) has it."""

    status: str
    expires_ms: int
    sku: str
    gift_to: int | None
    gift_until_ms: int
    order_id: str
    buyer: int | None
    ver: int

    @classmethod
    def from_redis(cls, fields: dict[bytes, bytes]) -> LiveCode | None:
        if not fields:
            return None

        def text(name: str) -> str:
            return fields.get(name.encode(), b"").decode()

        def number(name: str) -> int:
            return int(text(name) or 0)

        return cls(status=text("status"), expires_ms=number("expires_ms"), sku=text("sku"),
                   gift_to=number("gift_to") or None, gift_until_ms=number("gift_until"),
                   order_id=text("order_id"), buyer=number("buyer") or None, ver=number("ver"))

    @classmethod
    def from_row(cls, row: FCode) -> LiveCode:
        return cls(status=row.status, expires_ms=ms(row.expires_at), sku=row.sku or "",
                   gift_to=row.gifted_to_id, gift_until_ms=ms(row.gift_until) if row.gift_until else 0,
                   order_id=row.order_id or "", buyer=row.buyer_id, ver=row.version)

    def public_status(self, at_ms: int) -> CodeStatus:
        if self.status == CodeStatus.available and at_ms >= self.expires_ms:
            return CodeStatus.expired
        return CodeStatus(self.status)

    def gifted_to(self, at_ms: int) -> int | None:
        """The recipient while the gift binds the code, or after the recipient used it."""
        if self.gift_to is None:
            return None
        if self.status == CodeStatus.available and at_ms < self.gift_until_ms:
            return self.gift_to
        if self.status in (CodeStatus.reserved, CodeStatus.redeemed) and self.buyer == self.gift_to:
            return self.gift_to
        return None

    def row_values(self) -> dict[str, Any]:
        """What the SQL record takes from this state."""
        until = datetime.fromtimestamp(self.gift_until_ms / 1000, UTC) if self.gift_to else None
        return {"status": self.status, "order_id": self.order_id or None, "buyer_id": self.buyer,
                "gifted_to_id": self.gift_to, "gift_until": until, "version": self.ver}


def load_fields(row: FCode) -> list[ScriptArg]:
    live = LiveCode.from_row(row)
    values: dict[str, ScriptArg] = {
        "status": live.status, "expires_ms": live.expires_ms, "sku": live.sku, "owner": row.owner_id,
        "gift_to": live.gift_to or "", "gift_until": live.gift_until_ms, "order_id": live.order_id,
        "buyer": live.buyer or "", "ver": live.ver}
    return [item for pair in values.items() for item in pair]


class CodeState:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: CodeScripts, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self._load = scripts.load
        self._lease = scripts.lease
        self._confirm = scripts.confirm
        self._unlease = scripts.unlease
        self._order_end = scripts.order_end
        self._manage = scripts.manage
        self._synced = scripts.synced

    async def _pipelined(self, script: LuaScript, keys: Sequence[str], args: Sequence[ScriptArg],
                         before: Sequence[tuple[str, ...]] = (),
                         after: Sequence[tuple[str, ...]] = ()) -> tuple[list[Any], Any]:
        """One round trip: plain commands, the script, plain commands. Returns (replies of `before`,
        the script's reply). A server that lost its scripts gets them again (NOSCRIPT)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for command in before:
                pipe.execute_command(*command)
            script.queue(pipe, keys, args)
            for command in after:
                pipe.execute_command(*command)
            replies = await pipe.execute(raise_on_error=False)
        result = await script.settle(self.redis, replies[len(before)], keys, args)
        for i, reply in enumerate(replies):
            if i != len(before) and isinstance(reply, ResponseError):
                raise reply
        return replies[:len(before)], result

    def _dirty(self, code_hash: str) -> tuple[str, ...]:
        return ("HSET", self.keys.fcodes_dirty, code_hash, secrets.token_hex(6))

    async def load(self, rows: Sequence[FCode]) -> None:
        # A code long expired still gets a day in Redis: a rebuild must not vanish at once.
        soon = self.clock.now_ms() + int(KEEP_EXPIRED.total_seconds() * 1000)
        keep = [max(ms(row.expires_at + KEEP_AFTER_EXPIRY), soon) for row in rows]
        calls = [([self.keys.fcode(row.code_hash)], [until, *load_fields(row)])
                 for row, until in zip(rows, keep, strict=True)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                self._load.queue(pipe, keys, args)
            replies = await pipe.execute(raise_on_error=False)
        for (keys, args), reply in zip(calls, replies, strict=True):
            await self._load.settle(self.redis, reply, keys, args)

    async def lease(self, code_hash: str, user_id: int, sku: str, token: str, lease_ms: int,
                    counters: Sequence[str], window_seconds: int) -> tuple[list[Any], list[bytes]]:
        """Counts the attempt on the failure counters (INCR, EXPIRE NX, TTL of each) and tries the
        lease, in one round trip."""
        before = [cmd for key in counters
                  for cmd in (("INCR", key), ("EXPIRE", key, str(window_seconds), "NX"), ("TTL", key))]
        replies, result = await self._pipelined(
            self._lease, [self.keys.fcode(code_hash)], [user_id, sku, self.clock.now_ms(), lease_ms, token], before)
        return replies, result

    async def lease_again(self, code_hash: str, user_id: int, sku: str, token: str,
                          lease_ms: int) -> list[bytes]:
        result: list[bytes] = await self._lease(self.redis, [self.keys.fcode(code_hash)],
                                                [user_id, sku, self.clock.now_ms(), lease_ms, token])
        return result

    async def confirm(self, code_hash: str, order_id: str, token: str, user_id: int | None) -> list[bytes]:
        _, result = await self._pipelined(self._confirm, [self.keys.fcode(code_hash)],
                                          [order_id, token, user_id or ""], after=[self._dirty(code_hash)])
        return list(result)

    async def unlease(self, code_hash: str, token: str) -> None:
        await self._unlease(self.redis, [self.keys.fcode(code_hash)], [token])

    async def order_end(self, code_hash: str, outcome: str, order_id: str,
                        user_id: int | None) -> list[bytes]:
        _, result = await self._pipelined(self._order_end, [self.keys.fcode(code_hash)],
                                          [outcome, order_id, user_id or ""], after=[self._dirty(code_hash)])
        return list(result)

    async def manage(self, code_hash: str, action: str, *args: ScriptArg) -> list[bytes]:
        _, result = await self._pipelined(self._manage, [self.keys.fcode(code_hash)],
                                          [action, self.clock.now_ms(), *args], after=[self._dirty(code_hash)])
        return list(result)

    async def read(self, code_hashes: Sequence[str]) -> list[LiveCode | None]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for code_hash in code_hashes:
                pipe.hgetall(self.keys.fcode(code_hash))
            replies = await pipe.execute()
        return [LiveCode.from_redis(fields) for fields in replies]

    async def read_dirty(self, code_hashes: Sequence[str]
                         ) -> tuple[list[bytes | None], list[LiveCode | None]]:
        """The dirty markers and the states of these codes (markers first: a later change re-marks)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.fcodes_dirty, list(code_hashes))
            for code_hash in code_hashes:
                pipe.hgetall(self.keys.fcode(code_hash))
            replies = await pipe.execute()
        return replies[0], [LiveCode.from_redis(fields) for fields in replies[1:]]

    async def dirty_hashes(self, count: int = 500) -> list[str]:
        found: list[str] = []
        async for field, _ in self.redis.hscan_iter(self.keys.fcodes_dirty, count=count):
            found.append(field.decode())
        return found

    async def synced(self, markers: Sequence[tuple[str, bytes]]) -> None:
        if markers:
            await self._synced(self.redis, [self.keys.fcodes_dirty],
                               [item for pair in markers for item in pair])
