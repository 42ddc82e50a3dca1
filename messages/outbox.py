"""Writing to the outbox: called inside the caller's transaction (the F-code given, the order sink's
batch, the scheduler's step), so a message exists exactly when its cause was committed. Each message
is keyed by its event: writing it again is a no-op, which makes redelivered causes harmless."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, DateTime, String, and_, cast, exists, insert, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from messages.models import Delivery, Message, Reminder

Kind = Literal["drop_open", "admitted", "waitlist_hold", "payment_received", "fcode_given", "draw_result",
               "operator_message"]
Channel = Literal["email", "push"]
ACCOUNT_CHANNELS: tuple[Channel, ...] = ("email", "push")  # account events: email, and push where subscribed


@dataclass(frozen=True, slots=True)
class Draft:
    """A message to be written: `key` names the event and recipient, once."""

    user_id: int
    kind: Kind
    key: str
    channels: tuple[Channel, ...] = ACCOUNT_CHANNELS
    drop_id: int | None = None
    order_id: str | None = None
    params: Mapping[str, str | int] = field(default_factory=dict)


def dialect_insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


async def write(session: AsyncSession, drafts: Sequence[Draft], now: datetime) -> int:
    """Adds the drafts not written before (by key) with a pending delivery per channel; the number added."""
    if not drafts:
        return 0
    insert = dialect_insert(session)
    unique = {d.key: d for d in drafts}
    rows = [{"user_id": d.user_id, "kind": d.kind, "key": d.key, "drop_id": d.drop_id, "order_id": d.order_id,
             "params": orjson.dumps(dict(d.params)).decode(), "created_at": now} for d in unique.values()]
    statement = (insert(Message).on_conflict_do_nothing(index_elements=["key"])
                 .returning(col(Message.id), col(Message.key)))
    added = (await session.execute(statement, rows)).all() if len(rows) > 1 else \
        (await session.execute(statement.values(rows[0]))).all()
    deliveries = [{"message_id": message_id, "channel": channel, "status": "pending", "attempts": 0, "due_at": now}
                  for message_id, key in added for channel in unique[key].channels]
    if deliveries:
        await session.execute(insert(Delivery).on_conflict_do_nothing(), deliveries)
    return len(added)


DROP_OPEN_CHUNK = 20_000  # reminders per transaction: each well inside the statement timeout


async def write_drop_open(session: AsyncSession, drop_id: int, params: Mapping[str, str | int], now: datetime,
                          set_before: datetime, among: ColumnElement[bool] | None = None,
                          limit: int = DROP_OPEN_CHUNK) -> int:
    """The drop-open message of every reminder of the drop not told yet (only those whose user_id
    `among` selects, e.g. F-code holders at the priority window) set before `set_before` (the moment
    it opens: a reminder set on an open drop is told nothing), in INSERT ... SELECT statements:
    a hundred thousand reminders are a moment's work for the database, not a loop here. At most
    `limit` at a time: the caller commits and calls again while it returns `limit`."""
    key = literal(f"drop_open:{drop_id}:") + cast(Reminder.user_id, String)
    told = exists().where(col(Message.key) == key)
    chosen = and_(col(Reminder.drop_id) == drop_id, col(Reminder.created_at) < set_before, ~told,
                  among if among is not None else true())
    at = literal(now, type_=DateTime(timezone=True))
    source = select(col(Reminder.user_id), literal("drop_open"), key, literal(drop_id),
                    literal(orjson.dumps(dict(params)).decode()), at).where(chosen).order_by(
                        col(Reminder.id)).limit(limit)
    result = await session.execute(insert(Message).from_select(
        ["user_id", "kind", "key", "drop_id", "params", "created_at"], source))
    added = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if not added:
        return 0
    for channel, wanted in (("email", Reminder.email), ("push", Reminder.push)):
        pending = select(col(Message.id), literal(channel), literal("pending"), literal(0), at).join(
            Reminder, and_(col(Reminder.user_id) == col(Message.user_id), col(Reminder.drop_id) == drop_id)).where(
            col(Message.drop_id) == drop_id, col(Message.kind) == "drop_open", col(Message.created_at) == at,
            col(wanted).is_(True),
            ~exists().where(col(Delivery.message_id) == col(Message.id), col(Delivery.channel) == channel))
        await session.execute(insert(Delivery).from_select(
            ["message_id", "channel", "status", "attempts", "due_at"], pending))
    return added
