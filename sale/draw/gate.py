"""The draw in Redis: thin wrappers over its Lua scripts (one round trip each), and the reads the draw
and the entry page make."""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from core.clock import Clock
from core.keys import Keys
from core.redis import RedisClient, ScriptArg, ScriptRegistry

SCRIPTS = ("draw_entry.lua", "draw_publish.lua", "draw_lapse.lua")
PUBLISH_CHUNK = 5_000  # result rows per draw_publish.lua call
LAPSES_PER_STEP = 500
LOCK_MS = 120_000
ID_BYTES = 8


def register_scripts(scripts: ScriptRegistry) -> None:
    for name in SCRIPTS:
        scripts.add("sale.draw.lua", name)


@dataclass(frozen=True, slots=True)
class EntryReply:
    """draw_entry.lua's answer: the outcome, and the entry's id and status letter when it has one."""

    outcome: str
    entry_id: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class LiveEntry:
    """An entry as Redis holds it."""

    user_id: int
    entry_id: str
    status: str      # e(ntered), w(ithdrawn), v(oided)
    address: str
    variant: str


@dataclass(frozen=True, slots=True)
class LiveResult:
    """A winner's or backup's row: status won, backup, bought or lapsed."""

    status: str
    rank: int
    buy_until_ms: int
    entry_id: str


@dataclass(frozen=True, slots=True)
class ResultRow:
    user_id: int
    status: str
    rank: int
    buy_until_ms: int
    entry_id: str


@dataclass(frozen=True, slots=True)
class Turn:
    """A lapse ("l") or a backup's turn ("w", with its buy_until) that draw_lapse.lua decided."""

    kind: str
    user_id: int
    rank: int
    entry_id: str
    buy_until_ms: int = 0


@dataclass(frozen=True, slots=True)
class DrawCounters:
    remaining: int
    entered: int
    voided: int
    drawn: bool


@dataclass(frozen=True, slots=True)
class Standing:
    """The entries Redis holds, for the draw."""

    known: list[int]           # every account with an entry (any status)
    entries: dict[bytes, int]  # entry id (UTF-8) -> user id of each entry standing
    out: set[int]              # accounts whose entry was withdrawn or voided


def _parse_entry(user_id: int, raw: bytes) -> LiveEntry:
    eid, status, address, variant = raw.decode().split("|")
    return LiveEntry(user_id, eid, status, address, variant)


class DrawGate:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: ScriptRegistry, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self._entry = scripts["draw_entry"]
        self._publish = scripts["draw_publish"]
        self._lapse = scripts["draw_lapse"]
        self._random = b""  # secrets' bytes, drawn a few kilobytes at a time: one syscall per 512 entries

    def _new_id(self) -> str:
        """A new entry id: 8 random bytes from `secrets`, as hex."""
        if not self._random:
            self._random = secrets.token_bytes(ID_BYTES * 512)
        chunk, self._random = self._random[:ID_BYTES], self._random[ID_BYTES:]
        return chunk.hex()

    async def entry_action(self, drop_id: int, action: str, user_id: int, address: str = "", cap: int = 0,
                           variant: str = "") -> EntryReply:
        """draw_entry.lua: enter, withdraw or void (see the script for the outcomes)."""
        k = self.keys.drop(drop_id)
        reply = await self._entry(self.redis, (k.inv, k.draw_entries, k.stream),
                                  (self.clock.now_ms(), action, user_id, self._new_id(), address, cap, variant))
        parts = [part.decode() for part in reply]
        return EntryReply(parts[0], *(parts[1:3]))

    async def entry(self, drop_id: int, user_id: int) -> tuple[LiveEntry | None, LiveResult | None, bool]:
        """The account's entry, its result row (winners and backups) and whether the draw is made."""
        k = self.keys.drop(drop_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(k.draw_entries, str(user_id))
            pipe.hget(k.draw_results, str(user_id))
            pipe.hget(k.inv, "drawn")
            raw_entry, raw_result, drawn = await pipe.execute()
        entry = _parse_entry(user_id, raw_entry) if raw_entry else None
        result = None
        if raw_result:
            status, rank, until, eid = raw_result.decode().split("|")
            result = LiveResult(status, int(rank), int(until), eid)
        return entry, result, drawn == b"1"

    async def counters(self, drop_id: int) -> DrawCounters | None:
        found = await self.redis.hmget(self.keys.drop(drop_id).inv, ["remaining", "entered", "voided", "drawn"])
        remaining, entered, voided, drawn = found
        if remaining is None:
            return None
        return DrawCounters(int(remaining), int(entered or 0), int(voided or 0), drawn == b"1")

    async def entries(self, drop_id: int) -> list[LiveEntry]:
        """Every entry Redis holds (any status), read in one HGETALL."""
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.drop(drop_id).draw_entries)  # type: ignore[assignment]
        return [_parse_entry(int(uid), value) for uid, value in raw.items() if not uid.startswith(b"a:")]

    async def standing(self, drop_id: int) -> Standing:
        """For the draw, in one HGETALL and one pass: every entry Redis holds."""
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.drop(drop_id).draw_entries)  # type: ignore[assignment]
        found = Standing([], {}, set())
        for uid, value in raw.items():
            if uid[:2] == b"a:":
                continue
            user_id = int(uid)
            found.known.append(user_id)
            eid, status, _ = value.split(b"|", 2)
            if status == b"e":
                found.entries[eid] = user_id
            else:
                found.out.add(user_id)
        return found

    async def lock(self, drop_id: int, owner: str) -> bool:
        """The one process making the draw (across every node: the lock is in the drop's slot)."""
        return bool(await self.redis.set(self.keys.drop(drop_id).draw_lock, owner, nx=True, px=LOCK_MS))

    async def unlock(self, drop_id: int, owner: str) -> None:
        key = self.keys.drop(drop_id).draw_lock
        if await self.redis.get(key) == owner.encode():
            await self.redis.delete(key)

    async def publish(self, drop_id: int, rows: Sequence[ResultRow], promised: int, winners: int,
                      backups: int) -> bool:
        """draw_publish.lua in chunks, the last one marking the drop drawn; False when it was already."""
        k = self.keys.drop(drop_id)
        keys = (k.inv, k.draw_results, k.draw_due, k.draw_backups)
        chunks = [rows[i:i + PUBLISH_CHUNK] for i in range(0, len(rows), PUBLISH_CHUNK)] or [[]]
        for n, chunk in enumerate(chunks):
            args: list[ScriptArg] = ["1" if n == len(chunks) - 1 else "0", promised, winners, backups]
            for row in chunk:
                args += [row.user_id, row.status, row.rank, row.buy_until_ms, row.entry_id]
            reply = await self._publish(self.redis, keys, args)
            if reply[0] == b"drawn":
                return False
        return True

    async def lapse(self, drop_id: int, pay_window_ms: int) -> list[Turn]:
        """draw_lapse.lua: wins past buy_until lapse, free units pass to backups in order."""
        k = self.keys.drop(drop_id)
        flat = await self._lapse(self.redis, (k.inv, k.draw_results, k.draw_due, k.draw_backups),
                                 (self.clock.now_ms(), pay_window_ms, LAPSES_PER_STEP))
        turns: list[Turn] = []
        i = 0
        while i < len(flat):
            kind = flat[i].decode()
            if kind == "l":
                turns.append(Turn("l", int(flat[i + 1]), int(flat[i + 2]), flat[i + 3].decode()))
                i += 4
            else:
                turns.append(Turn("w", int(flat[i + 1]), int(flat[i + 2]), flat[i + 3].decode(), int(flat[i + 4])))
                i += 5
        return turns
