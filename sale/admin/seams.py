"""What the controls hand to other issues' work, as protocols the composition root wires (app/wiring.py).

- RefundRequester: cancelling a drop with `refund_paid` asks the payments work's bulk refund for the
  drop's paid orders, after the cancel is committed and its reservations released.
- NoticeOutbox: an operator's message is shown on the pages from the drop's state at once; sending
  it by email or push to everyone waiting or holding a reservation is the outbox's job. It is called
  inside the message's transaction, so the outbox can write its rows with the change (or not at all).
"""
from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from audit.schemas import Actor


class RefundRequester(Protocol):
    async def refund_paid_orders(self, drop_id: int, actor: Actor) -> None: ...


class NoticeOutbox(Protocol):
    async def notice_posted(self, session: AsyncSession, drop_id: int, text: str) -> None: ...
