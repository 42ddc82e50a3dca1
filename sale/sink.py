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
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from core.keys import Keys
from core.loops import forever
from core.metrics import ORDERS_SUNK
from core.runtime import Runtime
from sale.repository import OrderRepository

log = logging.getLogger("flashsale.sink")
GROUP = "sql-sink"
BATCH = 500
CLAIM_EVERY_SECONDS = 5.0


async def ensure_group(redis: Redis, keys: Keys, drop_id: int) -> None:
    """The drop's order stream and its consumer group exist (idempotent)."""
    try:
        await redis.xgroup_create(keys.drop(drop_id).stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


class OrderSink:
    def __init__(self, runtime: Runtime, consumer: str | None = None) -> None:
        self.runtime = runtime
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self._last_claim = 0.0

    async def active_streams(self) -> dict[str, int]:
        members = await self.runtime.redis.smembers(self.runtime.keys.active_drops)
        return {self.runtime.keys.drop(int(m)).stream: int(m) for m in members}

    async def run(self) -> None:
        await forever(self.step, log, pause=0)  # step() blocks on XREADGROUP itself

    async def step(self, block_ms: int = 500) -> int:
        streams = await self.active_streams()
        if not streams:
            await asyncio.sleep(block_ms / 1000)
            return 0
        written = 0
        if time.monotonic() - self._last_claim > CLAIM_EVERY_SECONDS:
            self._last_claim = time.monotonic()
            written += await self.reclaim(streams)
        try:
            response = await self.runtime.redis.xreadgroup(
                GROUP, self.consumer, {s: ">" for s in streams}, count=BATCH, block=block_ms)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            for drop_id in streams.values():  # Redis lost the group (flushed or rebuilt)
                await ensure_group(self.runtime.redis, self.runtime.keys, drop_id)
            return written
        batches: list[Any] = list(response or [])  # RESP2 reply: [[stream, entries], ...]
        for stream, entries in batches:
            written += await self.write(stream.decode(), entries)
        return written

    async def reclaim(self, streams: dict[str, int]) -> int:
        written = 0
        for stream in streams:
            try:
                result = await self.runtime.redis.xautoclaim(stream, GROUP, self.consumer,
                                                             self.runtime.settings.sink_claim_idle_ms,
                                                             start_id="0-0", count=BATCH)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    continue
                raise
            entries = [e for e in result[1] if e and e[1]]
            if entries:
                log.warning("claimed %d order events left pending on %s", len(entries), stream)
                written += await self.write(stream, entries)
        return written

    async def write(self, stream: str, entries: list[Any]) -> int:
        ids = [entry_id for entry_id, _ in entries]
        events = [orjson.loads(fields[b"o"]) for _, fields in entries if fields and b"o" in fields]
        async with self.runtime.sessions() as session, session.begin():
            count = await OrderRepository(session).upsert_events(events)
        # Acknowledged only after the commit: a crash before this line redelivers, harmlessly.
        async with self.runtime.redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, GROUP, *ids)
            pipe.xdel(stream, *ids)
            await pipe.execute()
        ORDERS_SUNK.inc(count)
        return count
