"""A drop's beginning and end at an operator's hand: clone one as a new upcoming drop, cancel one.

Cancelling follows the steps of sale/admin/controls.py for the change itself (the record's ends_at and
cancelled_at with the audit entry, the Redis state's ends_at inside that transaction, undone should
the commit fail); from the commit on nobody buys or joins the queue. The reservations are given back
after the commit, a batch per script call (drop_cancel.lua), those with an open provider payment after
it was closed there: should the process stop midway, the rest expire at their pay-by as usual, and
cancelling again (idempotent) gives them back at once."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.repository import AuditRepository
from audit.schemas import Actor, Change
from codes.gate import Gate
from core.clock import Clock, as_utc
from core.settings import Settings
from messages.drop_open import withdraw
from sale.admin.controls import differences
from sale.admin.repository import AdminRepository
from sale.admin.schemas import CancelIn, CancelOut, CloneIn
from sale.admin.seams import PaymentCloser, RefundRequester
from sale.admin.state import SCRIPT_REFUSALS, DropState, LiveSettings, live_settings
from sale.drops import DropAdmin, drop_out, drop_snapshot, recorded
from sale.exceptions import BadDrop, DropNotFound
from sale.models import Drop
from sale.repository import DropRepository
from sale.schedule import next_weekly_slot
from sale.schemas import DropOut

log = logging.getLogger("flashsale.controls")


def clone_of(source: Drop, starts: datetime) -> Drop:
    """The same product (pictures, description, specs, variants with their full stock), shipping and
    settings at a new time (the same length, early access and pre-queue); not paused, no message."""
    length = as_utc(source.ends_at) - as_utc(source.starts_at)
    early = as_utc(source.starts_at) - as_utc(source.priority_starts_at)
    return Drop(sku=source.sku, name=source.name, price_cents=source.price_cents, currency=source.currency,
                stock=source.stock, starts_at=starts, ends_at=starts + length, priority_starts_at=starts - early,
                per_user_limit=source.per_user_limit, pay_window_seconds=source.pay_window_seconds,
                waiting_room=source.waiting_room, prequeue_minutes=source.prequeue_minutes,
                admit_per_second=source.admit_per_second, challenge=source.challenge, image=source.image,
                pictures=[dict(p) for p in source.pictures] if source.pictures else None,
                shipping_required=source.shipping_required, description=source.description,
                waitlist_hold_minutes=source.waitlist_hold_minutes,
                specs=[dict(spec) for spec in source.specs] if source.specs else None,
                variants=[dict(v) for v in source.variants] if source.variants else None)


class DropLifecycle:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings,
                 drops: DropAdmin, state: DropState, gate: Gate, payments: PaymentCloser,
                 refunds: RefundRequester) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings  # the weekly schedule (a clone's default time) and the base URL
        self.drops = drops
        self.state = state
        self.gate = gate
        self.payments = payments
        self.refunds = refunds

    async def clone(self, drop_id: int, body: CloneIn, actor: Actor) -> DropOut:
        now = self.clock.now()
        s = self.settings
        starts = (body.starts_at.astimezone(UTC) if body.starts_at is not None
                  else next_weekly_slot(now, s.weekday_index, s.drop_time, s.zone))
        async with self.sessions.begin() as session:
            source = await DropRepository(session).get(drop_id)
            if source is None:
                raise DropNotFound()
            drop = clone_of(source, starts)
            if as_utc(drop.priority_starts_at) <= now:
                raise BadDrop("starts_at: a clone is an upcoming drop (its early access too must start later)")
            drop = await DropRepository(session).add(drop)
            await AuditRepository(session).record(actor, Change(
                "drop.clone", "drop", str(drop.id), after={**drop_snapshot(drop), "cloned_from": drop_id}), now)
        await self.drops.changed(drop)
        return drop_out(drop, recorded(drop), now, s.base_url)

    async def cancel(self, drop_id: int, body: CancelIn, actor: Actor) -> CancelOut:
        listed = await self.drops.drop_record(drop_id)
        if listed is None:
            raise DropNotFound()
        await self.drops.live([listed])
        drop = await self._end(drop_id, actor, body)
        released = await self._release(drop_id)
        await self.drops.changed(drop)
        if body.refund_paid:
            await self.refunds.refund_paid_orders(drop_id, actor)
        return CancelOut(drop=await self.drops.out(drop), released=released, refunds_requested=body.refund_paid)

    async def _end(self, drop_id: int, actor: Actor, body: CancelIn) -> Drop:
        """The record and the Redis state end now, with the audit entry (a drop cancelled before is
        left as it is: cancelling is idempotent)."""
        undo: LiveSettings | None = None
        try:
            async with self.sessions.begin() as session:
                now = self.clock.now()
                drop = await AdminRepository(session).lock_drop(drop_id)
                if drop is None:
                    raise DropNotFound()
                if drop.cancelled_at is not None:
                    return drop
                before_settings, before = live_settings(drop), drop_snapshot(drop)
                drop.cancelled_at = now
                drop.ends_at = min(as_utc(drop.ends_at), now)
                session.add(drop)
                await withdraw(session, drop_id, now)  # drop-open messages written ahead of its start
                old, new = differences(before, drop_snapshot(drop))
                await AuditRepository(session).record(actor, Change(
                    "drop.cancel", "drop", str(drop_id), old, {**new, "refund_paid": body.refund_paid}), now)
                await session.flush()
                undo = before_settings
                await self.state.apply(drop_id, live_settings(drop))
        except SCRIPT_REFUSALS:
            raise  # answered by the script: nothing changed in Redis, and the transaction rolled back
        except BaseException:
            if undo is not None:
                try:
                    await self.state.apply(drop_id, undo)
                except Exception:
                    log.exception("drop %s: the cancel was not committed and undoing its Redis step failed: "
                                  "run `flashsale reconcile --drop %s --fix`", drop_id, drop_id)
            raise
        return drop

    async def _release(self, drop_id: int) -> int:
        """Gives back every unpaid reservation (units to stock, orders cancelled, F-codes available).
        One whose provider payment is open is closed there first, then given back by a second pass
        (a payment that succeeded meanwhile pays its order; one the provider could not close now stays
        reserved until its pay-by, when the sweeper closes and expires it as usual)."""
        released = 0
        for second_pass in (False, True):
            skip, kept, more = 0, [], True
            while more:
                more, done, keep = await self.state.cancel_batch(drop_id, skip)
                released += len(done)
                skip += len(keep)
                kept += keep
                for order in done:
                    if order.fcode:
                        await self.gate.order_released(order.fcode, order.id)
            if not kept or second_pass:
                break
            await self.payments.close_due(kept)
        return released
