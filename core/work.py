"""CPU-heavy work (password hashing) off the event loop, bounded: at most `concurrency` at once in
threads, at most `queue` waiting; beyond that the caller gets 429 at once. A flood of logins then
costs the sale at most `concurrency` cores' worth of hashing, never the event loop."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from core.errors import RateLimited

T = TypeVar("T")


class BoundedWork:
    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = max(1, concurrency)
        self.queue = max(0, queue)
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0

    def _semaphore(self) -> asyncio.Semaphore:
        if self._slots is None:  # made on first use, inside the serving event loop
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._slots

    async def run(self, func: Callable[..., T], *args: object) -> T:
        slots = self._semaphore()
        if slots.locked() and self._waiting >= self.queue:
            raise RateLimited(1, "The server is busy checking passwords; try again in a moment")
        self._waiting += 1
        try:
            await slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await asyncio.to_thread(func, *args)
        finally:
            slots.release()
