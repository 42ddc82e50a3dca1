"""Live controls of a drop: pause, resume, edit (stock, times, limits, rate, name) and a message.

The order of the steps. Redis is the live gate (purchases and the waiting room read the drop's state
there, never SQL), SQL is the record (it outlives Redis: the loader rebuilds the state from it), and
the audit entry must exist exactly when the change does:

1. The drop's Redis state is loaded first (built from SQL where missing), outside any transaction.
2. One SQL transaction: the drop's row is locked with a write before anything is read (PostgreSQL's
   row lock; SQLite's write lock), so changes to one drop apply one at a time, in the same order in
   SQL and in Redis. The change is validated against the locked row, written with its audit entry,
   and flushed: a refused value or a failing write ends here, before Redis changes.
3. The Redis step, still inside that transaction: one script (drop_control.lua), atomic against
   purchases. A refusal (stock_conflict) or a failure (Redis down, fenced, the state gone) raises and
   the transaction rolls back: nothing recorded, no audit entry, nothing changed in Redis.
4. Commit; the answer goes out after it. Every node acts on the change from the Redis step on (the
   scripts read it), so from the moment of the answer at the latest.
5. A commit that fails after the Redis step (the database went away just then): the Redis step is
   undone (the same script with the record's values from before: it sets values, so running it again
   is harmless) and the error answered (503), so Redis never keeps a change the record lacks. The same
   undo follows a Redis call that failed without an answer (a timeout: it may have run). Should the
   undo fail too (Redis gone), it is logged: the loader's merge after a failover, the next change of
   the drop (it sets every control field) and `flashsale reconcile --fix` set Redis from the record.
6. After the commit the catalog (listings, drop pages of every worker) gets the new record.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.repository import AuditRepository
from audit.schemas import Actor, Change, Snapshot
from core.clock import Clock, as_utc
from messages.drop_open import restage
from sale.admin.repository import AdminRepository
from sale.admin.schemas import MAX_STOCK, DropPatchIn
from sale.admin.seams import NoticeOutbox
from sale.admin.state import SCRIPT_REFUSALS, DropState, LiveSettings, live_settings
from sale.drops import DropAdmin, drop_snapshot
from sale.exceptions import BadDrop, DropNotFound, StockConflict
from sale.models import Drop
from sale.schemas import DropOut

log = logging.getLogger("flashsale.controls")

# Applies a change to the locked record (raising for a refused one); True when the stock changed.
Edit = Callable[[Drop, datetime], bool]
# Runs in the change's transaction after it is written (the outbox's rows for a message).
AlsoInTransaction = Callable[[AsyncSession, Drop], Awaitable[None]]


def differences(before: Snapshot, after: Snapshot) -> tuple[Snapshot, Snapshot]:
    changed = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}


def apply_patch(drop: Drop, body: DropPatchIn, now: datetime) -> bool:
    """The PATCH's values on the record, validated together (422 for a refused one)."""
    if body.name is not None:
        drop.name = body.name
    if body.per_user_limit is not None:
        drop.per_user_limit = body.per_user_limit
    if body.admit_per_second is not None:
        drop.admit_per_second = body.admit_per_second
    if body.waitlist_hold_minutes is not None:
        drop.waitlist_hold_minutes = body.waitlist_hold_minutes
    if body.description is not None:
        drop.description = body.description or None
    starts, priority = as_utc(drop.starts_at), as_utc(drop.priority_starts_at)
    if body.starts_at is not None or body.priority_minutes is not None:
        if now >= priority:
            raise BadDrop("starts_at and priority_minutes cannot change once the drop has opened")
        minutes = body.priority_minutes if body.priority_minutes is not None else (starts - priority) // timedelta(
            minutes=1)
        starts = body.starts_at.astimezone(starts.tzinfo) if body.starts_at is not None else starts
        drop.starts_at, drop.priority_starts_at = starts, starts - timedelta(minutes=minutes)
    ends = body.ends_at.astimezone(starts.tzinfo) if body.ends_at is not None else as_utc(drop.ends_at)
    if ends <= starts:
        raise BadDrop("ends_at must be after starts_at")
    if body.ends_at is not None and ends <= now:
        raise BadDrop("ends_at is in the past")
    drop.ends_at = ends
    return apply_stock(drop, body)


def apply_stock(drop: Drop, body: DropPatchIn) -> bool:
    """The PATCH's stock_delta on the record (a variant's on a drop with variants); True when it changed."""
    if body.variant is not None and not drop.variants:
        raise BadDrop("variant: this drop has no variants")
    if not body.stock_delta:
        return False
    stock = drop.stock + body.stock_delta
    if stock < 0:
        raise StockConflict(f"The drop has {drop.stock} units in all")
    if stock > MAX_STOCK:
        raise BadDrop(f"stock would pass {MAX_STOCK}")
    if drop.variants:
        drop.variants = variants_with_stock(drop.variants, body.variant, body.stock_delta)
    drop.stock = stock
    return True


def variants_with_stock(variants: list[dict[str, Any]], sku: str | None, delta: int) -> list[dict[str, Any]]:
    """The variants with `sku`'s stock moved by `delta` (a new list: the JSON column sees the change);
    the drop's stock is their sum, so a drop with variants changes stock through one of them."""
    if sku is None:
        raise BadDrop("variant: this drop has variants; stock_delta names the one it changes")
    if sku not in {str(v["sku"]) for v in variants}:
        raise BadDrop(f"variant: the drop has no variant {sku}")
    out = []
    for v in variants:
        if v["sku"] == sku:
            if int(v["stock"]) + delta < 0:
                raise StockConflict(f"The variant has {v['stock']} units in all")
            v = {**v, "stock": int(v["stock"]) + delta}
        out.append(dict(v))
    return out


class DropControls:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, drops: DropAdmin,
                 state: DropState, outbox: NoticeOutbox) -> None:
        self.sessions = sessions
        self.clock = clock
        self.drops = drops
        self.state = state
        self.outbox = outbox

    async def pause(self, drop_id: int, actor: Actor) -> DropOut:
        return await self._change(drop_id, actor, "drop.pause", _paused(True))

    async def resume(self, drop_id: int, actor: Actor) -> DropOut:
        return await self._change(drop_id, actor, "drop.resume", _paused(False))

    async def patch(self, drop_id: int, body: DropPatchIn, actor: Actor) -> DropOut:
        async def restaged(session: AsyncSession, drop: Drop) -> None:
            # Drop-open messages already written for the old start (messages/drop_open.py) follow it.
            if body.starts_at is not None:
                await restage(session, drop_id, as_utc(drop.starts_at), self.clock.now())

        return await self._change(drop_id, actor, "drop.update", lambda drop, now: apply_patch(drop, body, now),
                                  restaged, variant=body.variant)

    async def message(self, drop_id: int, text: str, actor: Actor) -> DropOut:
        """Shown at once on the drop's page and waiting room (the drop's `notice`); "" removes it. The
        outbox gets it in the same transaction (sending by email or push is its job)."""
        def edit(drop: Drop, _: datetime) -> bool:
            drop.notice = text or None
            return False

        async def send(session: AsyncSession, drop: Drop) -> None:
            if text:
                await self.outbox.notice_posted(session, drop_id, text)

        return await self._change(drop_id, actor, "drop.message", edit, send)

    async def _change(self, drop_id: int, actor: Actor, action: str, edit: Edit,
                      also: AlsoInTransaction | None = None, variant: str | None = None) -> DropOut:
        """The steps of the module's docstring, for one change (`variant`: the one whose stock changes)."""
        listed = await self.drops.drop_record(drop_id)
        if listed is None:
            raise DropNotFound()
        if self.clock.now() >= as_utc(listed.ends_at):
            raise BadDrop("This drop has ended: it can no longer be changed")
        await self.drops.live([listed])  # step 1
        undo: LiveSettings | None = None
        try:
            async with self.sessions.begin() as session:  # step 2
                now = self.clock.now()
                drop = await AdminRepository(session).lock_drop(drop_id)
                if drop is None:
                    raise DropNotFound()
                if now >= as_utc(drop.ends_at):
                    raise BadDrop("This drop has ended: it can no longer be changed")
                before_settings = live_settings(drop, with_stock=True, variant=variant)
                before = drop_snapshot(drop)
                stock_changed = edit(drop, now)
                session.add(drop)
                old, new = differences(before, drop_snapshot(drop))
                if new:
                    await AuditRepository(session).record(actor, Change(action, "drop", str(drop_id), old, new), now)
                if also is not None:
                    await also(session, drop)
                await session.flush()
                undo = before_settings if stock_changed else LiveSettings(before_settings.fields)
                await self.state.apply(drop_id, live_settings(  # step 3
                    drop, with_stock=stock_changed, variant=variant if stock_changed else None))
        except SCRIPT_REFUSALS:
            raise  # answered by the script: nothing changed in Redis, and the transaction rolled back
        except BaseException:
            if undo is not None:  # step 5 (or a Redis call whose answer was lost: it may have run)
                await self._undo(drop_id, undo)
            raise
        await self.drops.changed(drop)  # step 6
        return await self.drops.out(drop)

    async def _undo(self, drop_id: int, settings: LiveSettings) -> None:
        try:
            await self.state.apply(drop_id, settings)
            log.warning("drop %s: the change was not committed; its Redis step was undone", drop_id)
        except Exception:
            log.exception("drop %s: the change was not committed and undoing its Redis step failed: Redis "
                          "differs from the record until `flashsale reconcile --drop %s --fix`", drop_id, drop_id)


def _paused(value: bool) -> Edit:
    def edit(drop: Drop, _: datetime) -> bool:
        drop.paused = value
        return False

    return edit
