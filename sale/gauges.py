"""What the on-call gauges read from Redis at scrape time: per drop the order sink watches (the
members of `keys.active_drops`, as the sink finds its streams), units left, the waiting room's
depth, the order stream's length and the oldest order event not yet written to SQL.

Read-only and bounded: one pipeline of six O(1)/O(log n) commands per watched drop, each naming one
key (so it works on a Redis Cluster, where the pipeline is split by node), and, rarely, a second
round of one XRANGE ... COUNT 1 per drop. The oldest event not yet in SQL is that of the `sql-sink`
group: its oldest pending entry (delivered to a consumer, not acknowledged) if any, else the first
entry after the group's last delivered id. Acknowledged entries are deleted by the sink, so the
stream's first entry is usually the answer; an acknowledged entry left behind (a lost XDEL) is not
counted, or it would hold the lag gauge up for ever.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.keys import Keys
from core.redis import RedisClient
from sale.sink import GROUP


@dataclass(frozen=True, slots=True)
class DropGauge:
    """One watched drop's figures."""

    drop_id: int
    live: bool                 # loaded and not ended (ended drops stay watched until their events are in SQL)
    units_left: int            # 0 when Redis holds no state for the drop
    queue_depth: int           # buyers waiting in the waiting room's line
    stream_length: int         # entries in the drop's order stream (not yet written, nearly always)
    oldest_unwritten_ms: int | None  # Redis time of the oldest event the sink has not written; None: none


@dataclass(frozen=True, slots=True)
class SaleGauges:
    """Every watched drop's figures, read at `now_ms` (the injected clock)."""

    now_ms: int
    drops: tuple[DropGauge, ...]

    @property
    def live(self) -> tuple[DropGauge, ...]:
        return tuple(d for d in self.drops if d.live)

    @property
    def stream_length(self) -> int:
        return sum(d.stream_length for d in self.drops)

    @property
    def writer_lag_seconds(self) -> float:
        """Age of the oldest order event not yet in SQL, over every watched drop (0 when none)."""
        oldest = [d.oldest_unwritten_ms for d in self.drops if d.oldest_unwritten_ms is not None]
        return max(0, self.now_ms - min(oldest)) / 1000 if oldest else 0.0


def entry_ms(entry_id: bytes) -> int:
    """The Redis time (ms) an auto-generated stream id was made at."""
    return int(entry_id.split(b"-", 1)[0])


def _after(entry_id: bytes, other: bytes) -> bool:
    """Stream ids compared as (ms, seq)."""
    a, b = entry_id.split(b"-", 1), other.split(b"-", 1)
    return (int(a[0]), int(a[1] or 0)) > (int(b[0]), int(b[1] or 0))


@dataclass(frozen=True, slots=True)
class _Read:
    drop_id: int
    inv: list[Any]
    queue_depth: int
    stream_length: int
    first: bytes | None
    pending_min: bytes | None   # the group's oldest pending id
    delivered: bytes | None     # the group's last delivered id; None: no group (Redis lost it)


def _last_delivered(groups: Any) -> bytes | None:
    """The sink group's last delivered id; None when the group does not exist (Redis lost it)."""
    if isinstance(groups, Exception):
        return None
    for group in groups:
        if group.get("name") in (GROUP.encode(), GROUP):
            delivered: bytes = group["last-delivered-id"]
            return delivered
    return None


class GaugeReader:
    def __init__(self, redis: RedisClient, keys: Keys, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock

    async def watched(self) -> list[int]:
        return sorted(int(m) for m in await self.redis.smembers(self.keys.active_drops))

    async def read(self) -> SaleGauges:
        drop_ids = await self.watched()
        now = self.clock.now_ms()
        reads = await self._first_round(drop_ids) if drop_ids else []
        # Entries left behind the group's position (acknowledged, not deleted): find the first one after it.
        unsure = [r for r in reads if self._needs_second_look(r)]
        after: dict[int, bytes | None] = {}
        if unsure:
            async with self.redis.pipeline(transaction=False) as pipe:
                for r in unsure:
                    pipe.xrange(self.keys.drop(r.drop_id).stream, b"(" + (r.delivered or b"0"), "+", count=1)
                replies = await pipe.execute()
            after = {r.drop_id: (reply[0][0] if reply else None) for r, reply in zip(unsure, replies, strict=True)}
        return SaleGauges(now, tuple(self._gauge(r, now, after) for r in reads))

    async def _first_round(self, drop_ids: Sequence[int]) -> list[_Read]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id in drop_ids:
                k = self.keys.drop(drop_id)
                pipe.hmget(k.inv, ["remaining", "ends_at"])
                pipe.zcard(k.line)
                pipe.xlen(k.stream)
                pipe.xrange(k.stream, "-", "+", count=1)
                pipe.xpending(k.stream, GROUP)  # an error without the stream or its group: read as none
                pipe.xinfo_groups(k.stream)
            replies = await pipe.execute(raise_on_error=False)
        reads = []
        for i, drop_id in enumerate(drop_ids):
            inv, depth, length, first, pending, groups = replies[6 * i:6 * i + 6]
            for reply in (inv, depth, length, first):
                if isinstance(reply, Exception):
                    raise reply
            reads.append(_Read(drop_id, inv, int(depth), int(length), first[0][0] if first else None,
                               _pending_min(pending), _last_delivered(groups)))
        return reads

    @staticmethod
    def _needs_second_look(r: _Read) -> bool:
        if r.first is None or r.pending_min is not None or r.delivered is None:
            return False
        return not _after(r.first, r.delivered)

    def _gauge(self, r: _Read, now: int, after: dict[int, bytes | None]) -> DropGauge:
        remaining, ends_at = r.inv
        oldest = r.pending_min
        if oldest is None:
            oldest = after.get(r.drop_id, r.first)
        live = remaining is not None and (ends_at is None or now < int(ends_at))
        return DropGauge(drop_id=r.drop_id, live=live, units_left=int(remaining or 0), queue_depth=r.queue_depth,
                         stream_length=r.stream_length,
                         oldest_unwritten_ms=entry_ms(oldest) if oldest is not None else None)


def _pending_min(pending: Any) -> bytes | None:
    """The group's smallest pending id (XPENDING's summary), None without pending entries or a group."""
    if isinstance(pending, Exception) or not pending or not pending.get("pending"):
        return None
    smallest: bytes = pending["min"]
    return smallest
