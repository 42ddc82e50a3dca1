"""Purchases of one drop that arrive while its previous Redis call is in flight go together in the
next call (group commit). A quiet drop gets one call per purchase, without waiting; a hot drop's
purchases share the round trip, the script start, the drop's counters and one stream entry, which
halves Redis's work per purchase. Each purchase is still decided on its own, in arrival order."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

MAX_BATCH = 64

Item = TypeVar("Item")
Reply = TypeVar("Reply")
Sender = Callable[[int, list[Item]], Awaitable[list[Reply]]]


class PurchaseBatcher(Generic[Item, Reply]):
    """One per worker process; `send(drop_id, items)` makes the call and returns one reply each."""

    def __init__(self, send: Sender[Item, Reply], max_batch: int = MAX_BATCH) -> None:
        self._send = send
        self._max = max_batch
        self._queues: dict[int, list[tuple[Item, asyncio.Future[Reply]]]] = {}
        self._draining: dict[int, asyncio.Task[None]] = {}

    async def submit(self, drop_id: int, item: Item) -> Reply:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(drop_id, []).append((item, future))
        if drop_id not in self._draining:
            self._draining[drop_id] = asyncio.create_task(self._drain(drop_id))
        return await future

    async def _drain(self, drop_id: int) -> None:
        queue = self._queues[drop_id]
        try:
            while queue:
                batch = queue[:self._max]
                del queue[:self._max]
                try:
                    replies = await self._send(drop_id, [item for item, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch + queue:
                        if not future.done():
                            future.cancel()
                    queue.clear()
                    raise
                except Exception as exc:  # every caller of the batch sees the error (503 for a down Redis)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), reply in zip(batch, replies, strict=True):
                    if not future.done():  # the buyer went away meanwhile
                        future.set_result(reply)
        finally:
            del self._draining[drop_id]
