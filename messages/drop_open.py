"""The drop-open message of every reminder, in INSERT ... SELECT statements, and written ahead: in the
minutes before a drop opens (STAGE_AHEAD) each reminder's message is staged, its `created_at` and its
deliveries' `due_at` the moment the drop opens, so at the open itself the outbox already holds them
(100,000 rows with their indexes are seconds of database work, too slow to start at the open) and
the senders take them as they fall due. A staged message is not shown (`GET /api/me/messages` lists
those whose `created_at` has come) nor sent before its time; one whose reminder is cancelled or
changed is taken back or given the new channels in the same transaction (`restage_reminder`); a drop
whose start moves takes its staged messages along (`restage`), one cancelled takes them back
(`withdraw`), both in the operator's transaction (the scheduler's staging holds a share lock on the
drop, so it never writes across one); F-code holders' are brought forward to the priority window
(`bring_forward`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import orjson
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    String,
    and_,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from messages.models import Delivery, Message, Reminder
from messages.outbox import dialect_insert

DROP_OPEN_CHUNK = 20_000  # reminders per transaction: each well inside the statement timeout
STAGE_AHEAD = timedelta(minutes=10)  # how long before a drop opens its messages are written


def drop_open_key(drop_id: int, user_id: int) -> str:
    return f"drop_open:{drop_id}:{user_id}"


def _staged(drop_id: int, now: datetime) -> ColumnElement[bool]:
    return and_(col(Message.drop_id) == drop_id, col(Message.kind) == "drop_open", col(Message.created_at) > now)


async def write_drop_open(session: AsyncSession, drop_id: int, params: Mapping[str, str | int], now: datetime,
                          set_before: datetime, among: ColumnElement[bool] | None = None,
                          limit: int = DROP_OPEN_CHUNK, *, at: datetime | None = None,
                          ids: tuple[int, int] | None = None) -> int:
    """The drop-open message of every reminder of the drop not told yet (only those whose user_id
    `among` selects, e.g. F-code holders at the priority window; only reminder ids in the range `ids`,
    low exclusive, high inclusive) set before `set_before`, with a pending delivery per channel chosen;
    `at` is their `created_at` and `due_at` (default `now`; a staged message's is the open). Two
    INSERT ... SELECT statements, at most `limit` reminders: the caller commits and calls again while
    it returns `limit`. A staged write (`at` later than `now`) takes a share lock on the reminders it
    reads, so a cancel or a change of channels at the same moment waits for it and then sees the
    message to take back or change."""
    at = at or now
    key = literal(f"drop_open:{drop_id}:") + cast(Reminder.user_id, String)
    told = exists().where(col(Message.key) == key)
    chosen = and_(col(Reminder.drop_id) == drop_id, col(Reminder.created_at) < set_before, ~told,
                  among if among is not None else true(),
                  and_(col(Reminder.id) > ids[0], col(Reminder.id) <= ids[1]) if ids is not None else true())
    when = literal(at, type_=DateTime(timezone=True))
    source = select(col(Reminder.user_id), literal("drop_open"), key, literal(drop_id),
                    literal(orjson.dumps(dict(params)).decode()), when).where(chosen).order_by(
                        col(Reminder.id)).limit(limit)
    if at > now:
        source = source.with_for_update(read=True, of=Reminder)  # FOR SHARE OF reminders (SQLite: one writer)
    before = (await session.execute(select(func.coalesce(func.max(Message.id), 0)))).scalar_one()
    result = await session.execute(dialect_insert(session)(Message).from_select(
        ["user_id", "kind", "key", "drop_id", "params", "created_at"], source))
    added = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if not added:
        return 0
    for channel, wanted in (("email", Reminder.email), ("push", Reminder.push)):
        # The messages this statement added: ids past the largest before it (other kinds, or another
        # worker's rows of the same drop, are left out by the conditions and the conflict clause).
        pending = select(col(Message.id), literal(channel), literal("pending"), literal(0), when).join(
            Reminder, and_(col(Reminder.user_id) == col(Message.user_id), col(Reminder.drop_id) == drop_id)).where(
            col(Message.id) > before, col(Message.drop_id) == drop_id, col(Message.kind) == "drop_open",
            col(Message.created_at) == when, col(wanted).is_(True))
        await session.execute(dialect_insert(session)(Delivery).from_select(
            ["message_id", "channel", "status", "attempts", "due_at"], pending).on_conflict_do_nothing())
    return added


async def highest_reminder(session: AsyncSession, drop_id: int) -> int:
    found = (await session.execute(select(func.max(col(Reminder.id))).where(
        col(Reminder.drop_id) == drop_id))).scalar_one()
    return int(found or 0)


async def restage(session: AsyncSession, drop_id: int, moment: datetime, now: datetime) -> None:
    """The drop's staged messages moved to `moment` (its start changed since they were written)."""
    moved = select(col(Message.id)).where(_staged(drop_id, now), col(Message.created_at) != moment)
    await session.execute(update(Delivery).where(col(Delivery.message_id).in_(moved), col(Delivery.status) == "pending")
                          .values(due_at=moment).execution_options(synchronize_session=False))
    await session.execute(update(Message).where(_staged(drop_id, now), col(Message.created_at) != moment)
                          .values(created_at=moment).execution_options(synchronize_session=False))


async def withdraw(session: AsyncSession, drop_id: int, now: datetime) -> None:
    """The drop's staged messages taken back (it was cancelled before it opened)."""
    staged = select(col(Message.id)).where(_staged(drop_id, now))
    await session.execute(delete(Delivery).where(col(Delivery.message_id).in_(staged))
                          .execution_options(synchronize_session=False))
    await session.execute(delete(Message).where(_staged(drop_id, now)).execution_options(synchronize_session=False))


async def bring_forward(session: AsyncSession, drop_id: int, users: Select[int], moment: datetime,
                        now: datetime) -> int:
    """The staged messages of `users` (F-code holders) moved to `moment` (the priority window)."""
    ids: Sequence[int | None] = (await session.execute(select(col(Message.id)).where(
        _staged(drop_id, now), col(Message.user_id).in_(users)))).scalars().all()
    for first in range(0, len(ids), 500):
        part = list(ids[first:first + 500])
        await session.execute(update(Delivery).where(col(Delivery.message_id).in_(part),
                                                     col(Delivery.status) == "pending").values(due_at=moment))
        await session.execute(update(Message).where(col(Message.id).in_(part)).values(created_at=moment))
    return len(ids)


async def restage_reminder(session: AsyncSession, user_id: int, drop_id: int, email: bool, push: bool,
                           now: datetime) -> None:
    """A reminder changed (or, no channel, cancelled) before the drop opened: its staged message, if
    any, takes the channels now chosen, or (cancelled) is taken back."""
    found = (await session.execute(select(col(Message.id), col(Message.created_at)).where(
        col(Message.key) == drop_open_key(drop_id, user_id), col(Message.created_at) > now))).first()
    if found is None:
        return
    message_id, moment = found
    chosen = [c for c, wanted in (("email", email), ("push", push)) if wanted]
    await session.execute(delete(Delivery).where(col(Delivery.message_id) == message_id,
                                                 col(Delivery.channel).not_in(chosen)))
    if not chosen:
        await session.execute(delete(Message).where(col(Message.id) == message_id))
        return
    await session.execute(dialect_insert(session)(Delivery).values(
        [{"message_id": message_id, "channel": c, "status": "pending", "attempts": 0, "due_at": moment}
         for c in chosen]).on_conflict_do_nothing())
