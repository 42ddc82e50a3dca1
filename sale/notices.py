"""An operator's message on a drop, sent (sale.admin.seams.NoticeOutbox): the drop's `notice` shows it
on the pages at once; this writes it to the outbox, in the same transaction, for everyone waiting or
holding a reservation in the drop:
- a waiting-room ticket waiting or admitted, a place or a held unit on the waitlist (read from Redis in
  scan batches);
- a reminder set on a drop not open yet (they wait for it to open);
- an order reserved and not paid yet (the order's SQL row: the sink writes it within a second).
Each posting is its own message per account (keyed by drop, posting time and account): posting the
same words twice tells twice, a redelivered transaction once."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from core.clock import Clock, as_utc
from messages.models import Reminder
from messages.outbox import Draft, write
from sale.models import Drop, Order, OrderStatus
from sale.queue.service import QueueService
from sale.waitlist.service import WaitlistService


class OperatorNotices:
    def __init__(self, queue: QueueService, waitlist: WaitlistService, clock: Clock) -> None:
        self.queue = queue
        self.waitlist = waitlist
        self.clock = clock

    async def notice_posted(self, session: AsyncSession, drop_id: int, text: str) -> None:
        drop = await session.get(Drop, drop_id)
        if drop is None:
            return
        now = self.clock.now()
        told = set(await self.queue.in_line(drop_id)) | set(await self.waitlist.members(drop_id))
        reserved = select(col(Order.user_id)).where(col(Order.drop_id) == drop_id,
                                                    col(Order.status) == OrderStatus.reserved.value).distinct()
        told.update((await session.execute(reserved)).scalars())
        if now < as_utc(drop.starts_at):
            reminded = select(col(Reminder.user_id)).where(col(Reminder.drop_id) == drop_id)
            told.update((await session.execute(reminded)).scalars())
        stamp = int(now.timestamp() * 1000)
        drafts = [Draft(user_id=user_id, kind="operator_message", key=f"operator_message:{drop_id}:{stamp}:{user_id}",
                        drop_id=drop_id, params={"drop_name": drop.name, "text": text}) for user_id in sorted(told)]
        await write(session, drafts, now)
