"""Background loops of a worker: a step run again and again, surviving its own failures."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def forever(step: Callable[[], Awaitable[object]], log: logging.Logger, *, pause: float,
                  pause_after_error: float = 1.0, until: asyncio.Event | None = None) -> None:
    """Runs `step` until cancelled (or `until` is set); an error is logged and the loop goes on after
    a pause, so a passing database or Redis outage never stops the sink or the sweeper for good.
    An outage is logged once when it starts and once when it ends, not at every retry."""
    name = getattr(step, "__qualname__", "step")
    failing = False
    task = asyncio.current_task()
    while until is None or not until.is_set():
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not failing:
                log.exception("%s failed; retrying every %.1f s", name, pause_after_error)
            else:
                log.debug("%s still failing: %s", name, type(exc).__name__)
            failing = True
            await asyncio.sleep(pause_after_error)
            continue
        if failing:
            log.warning("%s works again", name)
            failing = False
        if task is not None and task.cancelling():
            # Cancelled during the step, and a library swallowed it (Python 3.11 races in the Redis
            # client's timeouts): the loop ends now, not when cancel_all asks again a second later.
            raise asyncio.CancelledError
        if pause:
            await asyncio.sleep(pause)


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancels loops and waits for them. A cancel can be swallowed when it races a library's own
    wake-up (asyncio.Condition in the Redis pool, Python 3.11): such a loop would go on forever, so it
    is cancelled again until it ends."""
    pending = {task for task in tasks if not task.done()}
    # A second between cancels: a cancel runs the loop's cleanup (a rollback), which a cancel again too
    # soon would cut short, leaving a connection in its transaction (SQLite's write lock held). Loops
    # in forever() end by themselves when their cancel was swallowed, so this wait is rarely served.
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()
