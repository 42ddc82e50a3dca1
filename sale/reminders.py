"""The sale's side of messages: the drop-open message of every reminder at the right moment (holders
of an F-code at the priority window, everyone else at `starts_at`), written to the outbox by a
scheduler step that any number of workers may run at once (each message is keyed by drop and
account): staged in the minutes before the open (messages/drop_open.py: due at the open, shown from
it), holders' brought forward at the priority window, and at the open a last pass for whatever was
not staged; the drops' reminder counts rewritten from SQL; and "payment received", written by the
order sink in the transaction that records the paid order."""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from codes.models import CodeStatus, FCode
from core.clock import Clock, as_utc, ms
from core.db import DATABASE_DOWN
from core.loops import forever
from messages.drop_open import (
    DROP_OPEN_CHUNK,
    STAGE_AHEAD,
    bring_forward,
    highest_reminder,
    restage,
    write_drop_open,
)
from messages.models import Reminder
from messages.outbox import Draft, write
from messages.repository import ReminderRepository
from messages.service import ReminderCounts
from sale.catalog import DropCatalog
from sale.live_order import LiveOrder
from sale.models import Drop
from sale.queue.service import QueueService

log = logging.getLogger("flashsale.reminders")
COUNTS_EVERY_SECONDS = 5.0
TOLD_ADMISSION = timedelta(minutes=5)  # an admission told by message lasts at least this from the message


def holder_ids(drop: Drop, now: datetime) -> Select[int]:
    """Accounts holding a usable F-code for the drop (their own, or one given to them)."""
    holder = func.coalesce(col(FCode.gifted_to_id), col(FCode.owner_id))
    return select(holder).where(col(FCode.status) == CodeStatus.available.value, col(FCode.expires_at) > now,
                                or_(col(FCode.sku).is_(None), col(FCode.sku) == drop.sku))


def fcode_holders(drop: Drop, now: datetime) -> ColumnElement[bool]:
    """Reminders of accounts holding a usable F-code for the drop."""
    return col(Reminder.user_id).in_(holder_ids(drop, now))


class DropOpenings:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], catalog: DropCatalog, clock: Clock,
                 counts: ReminderCounts, queue: QueueService | None = None, interval_seconds: float = 0.25,
                 stage_ahead: timedelta = STAGE_AHEAD) -> None:
        self.stage_ahead = stage_ahead  # how long before a drop opens its messages are written
        self.queue = queue
        self.sessions = sessions
        self.catalog = catalog
        self.clock = clock
        self.counts = counts
        self.interval_seconds = interval_seconds
        self._done: set[tuple[int, str]] = set()  # (drop, "priority" | "open") this worker finished
        self._staged: dict[int, tuple[datetime, int]] = {}  # drop: the start staged for, the last reminder id
        self._last_counts = 0.0

    async def run(self) -> None:
        await forever(self.step, log, pause=self.interval_seconds)

    def done(self, drop_id: int, phase: str) -> bool:
        """Whether this worker wrote the drop's messages of `phase` ("priority" or "open")."""
        return (drop_id, phase) in self._done

    async def step(self) -> int:
        now = self.clock.now()
        written = 0
        drops = await self.catalog.current()
        for drop in drops:
            assert drop.id is not None
            starts, priority = as_utc(drop.starts_at), as_utc(drop.priority_starts_at)
            staged_for = self._staged.get(drop.id, (starts, 0))[0]
            if starts - self.stage_ahead <= now < starts or (staged_for != starts and now < staged_for):
                written += await self._stage(drop, starts, now)
            if priority < starts and now >= priority and (drop.id, "priority") not in self._done:
                written += await self._open(drop, "priority", priority, fcode_holders(drop, now), now,
                                            holder_ids(drop, now))
            if now >= starts and (drop.id, "open") not in self._done:
                written += await self._open(drop, "open", starts, None, now)
            if drop.waiting_room and now >= starts and self.queue is not None:
                written += await self._tell_admitted(drop, self.queue)
        if time.monotonic() - self._last_counts > COUNTS_EVERY_SECONDS:
            self._last_counts = time.monotonic()
            try:
                async with self.sessions() as session:
                    counts = await ReminderRepository(session).counts([d.id for d in drops if d.id is not None])
                await self.counts.rewrite(counts)
            except DATABASE_DOWN:
                log.warning("reminder counts not refreshed: the database is unreachable")
        return written

    async def _stage(self, drop: Drop, starts: datetime, now: datetime) -> int:
        """The messages of reminders set since the last step written ahead, due at `starts`; first (a
        worker's first sight of the drop, or a start that moved) the staged ones moved to `starts`."""
        assert drop.id is not None
        staged_for, last = self._staged.get(drop.id, (None, 0))
        written = 0
        try:
            async with self.sessions.begin() as session:
                if staged_for != starts:
                    await restage(session, drop.id, starts, now)
                top = await highest_reminder(session, drop.id)
            while top > last:
                async with self.sessions.begin() as session:
                    if not await self._still(session, drop.id, starts):
                        return written  # moved or cancelled since the catalog was read: the next step
                    chunk = await write_drop_open(session, drop.id, {"drop_name": drop.name}, now, starts,
                                                  at=starts, ids=(last, top))
                written += chunk
                if chunk < DROP_OPEN_CHUNK:
                    break
        except IntegrityError:
            return written  # another worker staged them at the same moment: the next step goes on
        self._staged[drop.id] = (starts, max(top, last))
        if written:
            log.info("drop %s: %d reminders staged in the outbox for the open", drop.id, written)
        return written

    @staticmethod
    async def _still(session: AsyncSession, drop_id: int, starts: datetime) -> bool:
        """Whether the drop still starts at `starts`, not cancelled: read with a share lock (PostgreSQL)
        held to the commit, so an operator's move or cancel (which locks the drop to update it, and
        moves or takes back the staged messages in its transaction) comes before or after, not between."""
        found = (await session.execute(select(col(Drop.starts_at), col(Drop.cancelled_at)).where(
            col(Drop.id) == drop_id).with_for_update(read=True))).first()
        return found is not None and found[1] is None and as_utc(found[0]) == starts

    async def _open(self, drop: Drop, phase: str, moment: datetime, among: ColumnElement[bool] | None,
                    now: datetime, forward: Select[int] | None = None) -> int:
        """Every reminder's message not written yet (staged ones are already due at the open), at
        `now`; at the priority window (`forward`: the holders) the holders' staged messages first
        brought forward to it."""
        assert drop.id is not None
        written = 0
        try:
            if forward is not None:
                async with self.sessions.begin() as session:
                    written += await bring_forward(session, drop.id, forward, moment, now)
            while True:  # a chunk per transaction (DROP_OPEN_CHUNK), each committed before the next
                async with self.sessions.begin() as session:
                    chunk = await write_drop_open(session, drop.id, {"drop_name": drop.name}, now, moment, among)
                written += chunk
                if chunk < DROP_OPEN_CHUNK:
                    break
        except IntegrityError:
            return written  # another worker wrote them at the same moment: the next step finds what is left
        self._done.add((drop.id, phase))
        if written:
            log.info("drop %s %s: %d reminders written to the outbox", drop.id, phase, written)
        return written


    async def _tell_admitted(self, drop: Drop, queue: QueueService) -> int:
        """"Your turn": the admissions of tickets with a channel, into the outbox (keyed by drop, account
        and admission), then each admission stretched to 5 minutes from now at least, so the holder
        has that long from the message."""
        assert drop.id is not None
        entries = await queue.admissions_to_tell(drop.id)
        if not entries:
            return 0
        now = self.clock.now()
        until = [(entry_id, user_id, max(until_ms, ms(now + TOLD_ADMISSION))) for entry_id, user_id, until_ms
                 in entries]
        drafts = [Draft(user_id=user_id, kind="admitted", key=f"admitted:{drop.id}:{user_id}:{entry_id.decode()}",
                        drop_id=drop.id, params={"drop_name": drop.name,
                                                 "until": datetime.fromtimestamp(until_ms / 1000, UTC)
                                                 .strftime("%H:%M UTC")})
                  for entry_id, user_id, until_ms in until]
        async with self.sessions.begin() as session:
            written = await write(session, drafts, now)
        await queue.told(drop.id, until)
        return written


class PaidMessages:
    """A PaidRecorder (sale/sink.py): "payment received" for each paid order, once (keyed by the order)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def record_paid(self, session: AsyncSession, orders: Sequence[LiveOrder]) -> None:
        drop_ids = {o.drop_id for o in orders}
        rows = (await session.execute(select(col(Drop.id), col(Drop.name)).where(col(Drop.id).in_(drop_ids)))).all()
        names: dict[int, str] = {drop_id or 0: name for drop_id, name in rows}
        drafts = [Draft(user_id=o.user_id, kind="payment_received", key=f"payment_received:{o.id}",
                        drop_id=o.drop_id, order_id=o.id,
                        params={"order_number": o.number or o.id, "drop_name": names.get(o.drop_id, o.sku),
                                "sku": o.sku, "quantity": o.quantity})
                  for o in orders if o.status == "paid"]
        await write(session, drafts, self.clock.now())

