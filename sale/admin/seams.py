"""What the controls hand to other issues' work, as protocols the composition root wires (app/wiring.py).

- RefundRequester: cancelling a drop with `refund_paid` asks the payments work's bulk refund for the
  drop's paid orders, after the cancel is committed and its reservations released (app/wiring.py
  wires `Refunds.request_bulk`).
- PaymentCloser: cancelling a drop gives back the reservations whose provider payment is open only
  after closing it there (close before release: the payments work's `close_due`).
- NoticeOutbox: an operator's message is shown on the pages from the drop's state at once; sending
  it by email or push to everyone waiting or holding a reservation is the outbox's job (sale/notices.py
  writes those messages). It is called
  inside the message's transaction, so the outbox can write its rows with the change (or not at all).
"""
from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from audit.schemas import Actor
from sale.live_order import LiveOrder


class RefundRequester(Protocol):
    async def refund_paid_orders(self, drop_id: int, actor: Actor) -> None: ...


class PaymentCloser(Protocol):
    async def close_due(self, orders: list[LiveOrder]) -> int: ...


class NoticeOutbox(Protocol):
    async def notice_posted(self, session: AsyncSession, drop_id: int, text: str) -> None: ...
