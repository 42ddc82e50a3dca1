"""CPU-heavy work (password hashing) off the event loop, bounded: at most `concurrency` at once in
threads of its own, at most `queue` waiting; beyond that the caller gets 429 at once. The threads
run at the lowest CPU priority (nice 19): when cores are scarce, the event loop serving pages and
purchases goes first, and a flood of logins waits instead."""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from core.errors import RateLimited

T = TypeVar("T")
LOWEST_PRIORITY = 19


def _lower_priority() -> None:
    """Linux schedules threads one by one: this lowers only the calling (worker) thread."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)


class BoundedWork:
    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = max(1, concurrency)
        self.queue = max(0, queue)
        self._slots: asyncio.Semaphore | None = None
        self._waiting = 0
        self._threads = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="bounded-work",
                                           initializer=_lower_priority)

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
            return await asyncio.get_running_loop().run_in_executor(self._threads, func, *args)
        finally:
            slots.release()
