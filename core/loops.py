"""Background loops of a worker: a step run again and again, surviving its own failures."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def forever(step: Callable[[], Awaitable[object]], log: logging.Logger, *, pause: float,
                  pause_after_error: float = 1.0) -> None:
    """Runs `step` until cancelled; an error is logged and the loop goes on after a pause, so a
    passing database or Redis outage never stops the sink or the sweeper for good."""
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; retrying", getattr(step, "__qualname__", "step"))
            await asyncio.sleep(pause_after_error)
            continue
        if pause:
            await asyncio.sleep(pause)
