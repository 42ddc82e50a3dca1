"""The outbox's sender, one per worker beside the sweeper: claims due deliveries with a lease (so two
workers never send one at once, and a dead worker's claim passes on when the lease ends), sends them,
and settles each: sent, due again later (backoff), or failed for good (a dead letter operators see
with its last error). A send is marked only after it happened: a crash between the two sends that one
message again, never loses it (email carries the same Message-ID both times).

While a sale is in its rush (`rush`, from the composition root), only messages that name a moment to
act in are sent (outbox.TIMELY_KINDS: the drop is open, your turn, a unit held for you, the draw's
result); receipts and the like wait until it has passed. A rush is when the machine's cores are
wanted by buyers, and a receipt a minute late costs nobody anything."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.loops import forever
from core.metrics import MESSAGES
from messages.mail import NothingToSend, PermanentFailure
from messages.outbox import TIMELY_KINDS
from messages.repository import Claimed, OutboxRepository

log = logging.getLogger("flashsale.messages")
BATCH = 200
DRAINS = 2  # batches in flight at once: one's claim or settling in SQL while the other's are sent
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8
FIRST_RETRY_SECONDS = 5.0
LAST_RETRY_SECONDS = 3600.0
RUSH_CHECK_SECONDS = 0.5


class Transport(Protocol):
    """Sends one claimed delivery by its channel; PermanentFailure for a refusal retrying cannot mend,
    any other exception to try again later."""

    async def deliver(self, item: Claimed) -> None: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    error: str | None = None
    due: datetime | None = None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** max(0, attempts - 1)))


class OutboxSender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 transports: dict[str, Transport], interval_seconds: float = 0.2,
                 rush: Callable[[], Awaitable[bool]] | None = None,
                 rush_check_seconds: float = RUSH_CHECK_SECONDS) -> None:
        self.sessions = sessions
        self.clock = clock
        self.transports = transports  # shared: a channel configured later (tests) is used at once
        self.interval_seconds = interval_seconds
        self.rush = rush
        self.rush_check_seconds = rush_check_seconds
        self._rush_seen = (float("-inf"), False)  # (monotonic time, answer): the rush asked at most this often

    async def run(self) -> None:
        await forever(self.drain, log, pause=self.interval_seconds)

    async def drain(self) -> int:
        """Everything due, DRAINS batches at a time (each claims its own rows); the number handled."""
        # Named as the sender's own task (tests tell background SQL from a request's by task name).
        return sum(await asyncio.gather(*(asyncio.create_task(self._drain_one(), name="outbox-sender")
                                          for _ in range(DRAINS))))

    async def _drain_one(self) -> int:
        total = 0
        while (sent := await self.step()) == BATCH:
            total += sent
        return total + sent

    async def step(self) -> int:
        """One batch: claimed in one transaction, sent concurrently, settled in another."""
        if not self.transports:
            return 0
        kinds = TIMELY_KINDS if await self._in_rush() else None  # asked before the claim's transaction opens
        claimed_at = self.clock.now()
        async with self.sessions.begin() as session:
            claimed = await OutboxRepository(session).claim(claimed_at, LEASE, list(self.transports), BATCH, kinds)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(asyncio.create_task(self._send(item), name="outbox-send")
                                          for item in claimed))
        for item, outcome in zip(claimed, outcomes, strict=True):
            MESSAGES.labels(item.channel, outcome.status).inc()
        now = self.clock.now()
        async with self.sessions.begin() as session:
            repo = OutboxRepository(session)
            sent = [item.delivery_id for item, outcome in zip(claimed, outcomes, strict=True)
                    if outcome.status == "sent"]
            await repo.settle_sent(sent, claimed_at + LEASE, now)
            for item, outcome in zip(claimed, outcomes, strict=True):
                if outcome.status != "sent":
                    await repo.settle(item.delivery_id, item.attempts, outcome.status, now, outcome.error,
                                      outcome.due)
        return len(claimed)

    async def _in_rush(self) -> bool:
        if self.rush is None:
            return False
        asked_at, answer = self._rush_seen
        if time.monotonic() - asked_at >= self.rush_check_seconds:
            answer = await self.rush()
            self._rush_seen = (time.monotonic(), answer)
        return answer

    async def _send(self, item: Claimed) -> Outcome:
        if item.channel == "email" and item.email_off:
            return Outcome("skipped", "unsubscribed")
        try:
            await self.transports[item.channel].deliver(item)
        except NothingToSend as exc:
            return Outcome("skipped", str(exc)[:500])
        except PermanentFailure as exc:
            return Outcome("failed", str(exc)[:500])
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            if item.attempts >= MAX_ATTEMPTS:
                log.warning("message %s by %s failed %d times: dead letter", item.message_id, item.channel,
                            item.attempts)
                return Outcome("failed", error)
            return Outcome("pending", error, self.clock.now() + backoff(item.attempts))
        return Outcome("sent")
