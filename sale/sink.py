"""The order stream's consumer: Redis order events become SQL rows, idempotently.

One consumer per worker process in the group `sql-sink`. Entries are acknowledged (and deleted)
only after the database committed them; entries left pending by a dead consumer are claimed
with XAUTOCLAIM once they have been idle for a while.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import DATABASE_DOWN, WriteHealth
from core.keys import Keys
from core.loops import forever
from core.metrics import ORDERS_SUNK
from core.redis import RedisClient, is_cluster_client
from sale.live_order import LiveOrder
from sale.repository import OrderRepository

log = logging.getLogger("flashsale.sink")
GROUP = "sql-sink"
BATCH = 500
CLAIM_EVERY_SECONDS = 5.0
MULTI_STREAM_BLOCK_MS = 50
CLUSTER_READS_AT_ONCE = 16
# After a batch smaller than BATCH, the next read waits this long from the previous one began, so the
# events of a steady rush arrive in one transaction every LINGER instead of one per event or two:
# a transaction (begin, statements, commit, XACK) costs far more CPU than a row. Entries stay in
# the stream, unacknowledged, meanwhile: nothing is lost to a crash, the row only lands later.
LINGER_SECONDS = 0.1


class PaidRecorder(Protocol):
    """What the sink calls, inside its transaction and before it acknowledges, with the paid orders
    of a batch (the share link's row, the F-code's redemption): at least once per paid order, so it
    must be idempotent."""

    async def record_paid(self, session: AsyncSession, orders: Sequence[LiveOrder]) -> None: ...


class NoticeRecorder(Protocol):
    """What the sink calls, inside its transaction, with the payment notices a batch carries (entries
    {"n": JSON} that pay_event.lua wrote): at least once each, so it must be idempotent."""

    async def record_notices(self, session: AsyncSession, notices: Sequence[bytes]) -> None: ...


class EntryRecorder(Protocol):
    """What the sink calls, inside its transaction, with the draw entry events a batch carries (entries
    {"e": JSON} that draw_entry.lua wrote): at least once each, so it must be idempotent."""

    async def record_entries(self, session: AsyncSession, entries: Sequence[bytes]) -> None: ...


class HoldRecorder(Protocol):
    """What the sink calls, inside its transaction, with the waitlist holds a batch of one drop's stream
    carries (entries {"w": JSON list of holds} that waitlist_offer.lua wrote): at least once each, so it
    must be idempotent (the holder's message is keyed by the hold)."""

    async def record_holds(self, session: AsyncSession, drop_id: int, holds: Sequence[bytes]) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamRecorders:
    """The recorders of the stream's entries that are not orders: payment notices ("n"), draw entries
    ("e"), waitlist holds ("w"); each left out is not recorded."""

    notices: NoticeRecorder | None = None
    entries: EntryRecorder | None = None
    holds: HoldRecorder | None = None


async def ensure_group(redis: RedisClient, keys: Keys, drop_id: int) -> None:
    """The drop's order stream and its consumer group exist (idempotent)."""
    try:
        await redis.xgroup_create(keys.drop(drop_id).stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class OrderSink:
    def __init__(self, redis: RedisClient, keys: Keys, sessions: async_sessionmaker[AsyncSession],
                 database_writes: WriteHealth, claim_idle_ms: int, recorders: Sequence[PaidRecorder] = (),
                 consumer: str | None = None, events: StreamRecorders = StreamRecorders()) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions
        self.database_writes = database_writes  # what /healthz reports of the sink's writes
        self.claim_idle_ms = claim_idle_ms
        self.recorders = list(recorders)
        self.notices = events.notices
        self.entries = events.entries
        self.holds = events.holds
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._last_claim = 0.0
        # Entries delivered to this consumer but not acknowledged (a failed write: the database was
        # down) are read again, from the start of its pending list, before anything new.
        self._backlog = True
        self._stopping = asyncio.Event()
        self._idle = False  # waiting for events (a sleep or a blocking read): nothing in hand to finish

    async def active_streams(self) -> dict[str, int]:
        members = await self.redis.smembers(self.keys.active_drops)
        return {self.keys.drop(int(m)).stream: int(m) for m in members}

    async def run(self) -> None:
        await forever(self._lingering_step, log, pause=0, until=self._stopping)

    async def _lingering_step(self) -> int:
        started = time.monotonic()
        written = await self.step()  # blocks on XREADGROUP itself while the streams are empty
        if 0 < written < BATCH and not self._stopping.is_set():
            await asyncio.sleep(max(0.0, started + LINGER_SECONDS - time.monotonic()))
        return written

    async def stop(self, task: asyncio.Task[None], drain_seconds: float) -> int:
        """Graceful stop: the loop ends after its current batch, then every event still in the streams
        is written (this consumer's pending ones included) for up to `drain_seconds`."""
        self._stopping.set()
        if self._idle:  # waiting on an empty stream holds nothing: no need to wait out the block
            task.cancel()
        await asyncio.wait({task}, timeout=drain_seconds)
        written, deadline = 0, time.monotonic() + drain_seconds
        while time.monotonic() < deadline:
            try:
                step = await self.step(block_ms=0)
            except Exception as exc:
                # A busy database (SQLite's one writer, another worker draining too) is waited for until
                # the deadline; what is still left then is written at the next start.
                log.warning("order sink drain step failed (%s); retrying until the deadline", type(exc).__name__)
                await asyncio.sleep(0.2)
                continue
            written += step
            if not step and not self._backlog:
                break
        if self._backlog:
            log.error("order sink drain ran out of time; what is left is written at the next start")
        log.info("order sink drained: %d order events written at shutdown", written)
        return written

    async def step(self, block_ms: int = 500) -> int:
        streams = await self.active_streams()
        if not streams:
            self._backlog = False
            self._idle = True
            try:
                await asyncio.sleep(block_ms / 1000)
            finally:
                self._idle = False
            return 0
        written = 0
        if time.monotonic() - self._last_claim > CLAIM_EVERY_SECONDS:
            self._last_claim = time.monotonic()
            written += await self.reclaim(streams)
        backlog = self._backlog
        try:
            batches = await self._read_all(streams, "0" if backlog else ">", None)
            if backlog and not any(entries for _, entries in batches):
                self._backlog = False
            elif not backlog and block_ms and not any(entries for _, entries in batches):
                if len(streams) > 1 and is_cluster_client(self.redis):
                    # Several slots, one read each: a blocking read per stream would hold a connection
                    # per active drop. A short pause instead, then the next step reads them all again.
                    self._idle = True
                    await asyncio.sleep(min(block_ms, MULTI_STREAM_BLOCK_MS) / 1000)
                else:
                    self._idle = True
                    batches = await self._read_all(streams, ">", block_ms)
                self._idle = False
            for stream, entries in batches:
                gone = [entry_id for entry_id, fields in entries if not fields]
                if gone:  # pending ids whose entry was deleted: nothing left to write
                    await self.redis.xack(stream, GROUP, *gone)
                entries = [e for e in entries if e[1]]
                if entries:
                    written += await self.write(stream, streams[stream], entries)
        except BaseException:
            self._backlog = True  # a read cut short (stop's cancel) may have left entries pending here
            self._idle = False
            raise
        return written

    async def _read_all(self, streams: dict[str, int], start: str,
                        block_ms: int | None) -> list[tuple[str, list[Any]]]:
        """This consumer's pending entries from the start ("0", after a failed write) or new ones (">"),
        of every active drop: one XREADGROUP naming all streams on a single Redis; on a Cluster one per
        stream, since each drop's stream lives in its own slot and a read naming streams of two slots
        is refused (CROSSSLOT, redis/redis#6794)."""
        block = block_ms if start == ">" else None
        if not is_cluster_client(self.redis):
            try:
                response = await self.redis.xreadgroup(GROUP, self.consumer, dict.fromkeys(streams, start),
                                                               count=BATCH, block=block)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                for drop_id in streams.values():  # Redis lost the group (flushed or rebuilt)
                    await ensure_group(self.redis, self.keys, drop_id)
                return []
            batches: list[Any] = list(response or [])  # RESP2 reply: [[stream, entries], ...]
            return [(stream.decode(), list(entries)) for stream, entries in batches]
        items = list(streams.items())
        replies: list[list[Any]] = []
        for first in range(0, len(items), CLUSTER_READS_AT_ONCE):  # a few connections, not one per drop
            replies += await asyncio.gather(*(self._read_one(stream, drop_id, start, block)
                                              for stream, drop_id in items[first:first + CLUSTER_READS_AT_ONCE]))
        return list(zip(streams, replies, strict=True))

    async def _read_one(self, stream: str, drop_id: int, start: str, block_ms: int | None) -> list[Any]:
        try:
            response = await self.redis.xreadgroup(GROUP, self.consumer, {stream: start}, count=BATCH,
                                                           block=block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await ensure_group(self.redis, self.keys, drop_id)  # Redis lost the group
            return []
        batches: list[Any] = list(response or [])  # RESP2 reply: [[stream, entries]]
        return list(batches[0][1]) if batches else []

    async def reclaim(self, streams: dict[str, int]) -> int:
        written = 0
        for stream, drop_id in streams.items():
            try:
                result = await self.redis.xautoclaim(stream, GROUP, self.consumer,
                                                             self.claim_idle_ms,
                                                             start_id="0-0", count=BATCH)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    continue
                raise
            entries = [e for e in result[1] if e and e[1]]
            if entries:
                log.warning("claimed %d order events left pending on %s", len(entries), stream)
                written += await self.write(stream, drop_id, entries)
        return written

    async def write(self, stream: str, drop_id: int, entries: list[Any]) -> int:
        """An entry names orders ({"i": "id id ..."}); their JSON is read from the orders hash, the one
        copy Redis keeps (the order's latest state, which the upsert's ranking accepts over older
        ones)."""
        ids = [entry_id for entry_id, _ in entries]
        events: list[LiveOrder] = []
        order_ids = list(dict.fromkeys(order_id for _, fields in entries if fields and b"i" in fields
                                       for order_id in fields[b"i"].split(b" ")))
        if order_ids:
            found = await self.redis.hmget(self.keys.drop(drop_id).orders, order_ids)
            events.extend(LiveOrder.decode(raw) for raw in found if raw)
        paid = [event for event in events if event.status == "paid"]
        notices = [fields[b"n"] for _, fields in entries if fields and b"n" in fields]
        draw_entries = [fields[b"e"] for _, fields in entries if fields and b"e" in fields]
        holds = [fields[b"w"] for _, fields in entries if fields and b"w" in fields]
        try:
            async with self.sessions() as session, session.begin():
                count = await OrderRepository(session).upsert_events(events)
                for recorder in self.recorders if paid else ():
                    await recorder.record_paid(session, paid)  # the share link row, the F-code's redemption
                if notices and self.notices is not None:
                    await self.notices.record_notices(session, notices)  # payment_events rows
                if draw_entries and self.entries is not None:
                    await self.entries.record_entries(session, draw_entries)  # draw_entries rows
                if holds and self.holds is not None:
                    await self.holds.record_holds(session, drop_id, holds)  # waitlist_hold messages
        except DATABASE_DOWN:
            self.database_writes.failed()
            raise
        self.database_writes.succeeded()
        # Acknowledged only after the commit: a crash before this line redelivers, harmlessly.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
            await pipe.execute()
        ORDERS_SUNK.inc(count)
        return count
