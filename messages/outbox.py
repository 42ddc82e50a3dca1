"""Writing to the outbox: called inside the caller's transaction (the F-code given, the order sink's
batch, the scheduler's step), so a message exists exactly when its cause was committed. Each message
is keyed by its event: writing it again is a no-op, which makes redelivered causes harmless."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from messages.models import Delivery, Message

Kind = Literal["drop_open", "admitted", "waitlist_hold", "payment_received", "fcode_given", "draw_result",
               "operator_message"]
# What cannot wait for a sale's rush to pass (sender.py): each names a moment the buyer must act in.
TIMELY_KINDS: tuple[Kind, ...] = ("drop_open", "admitted", "waitlist_hold", "draw_result")
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
