"""SQL of the outbox and reminders. Receives the session; never opens one."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from accounts.models import User
from messages.models import Delivery, Message, PushSubscription, Recipient, Reminder
from messages.outbox import dialect_insert


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a sender holds the lease of, with what it needs to send it."""

    delivery_id: int
    attempts: int  # after the claim: marking it done checks it, so a lease taken over is not marked twice
    channel: str
    message_id: int
    key: str
    kind: str
    user_id: int
    drop_id: int | None
    order_id: str | None
    params: dict[str, str | int]
    email: str
    name: str | None
    language: str
    email_off: bool


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, now: datetime, lease: timedelta, channels: Sequence[str], limit: int,
                    kinds: Sequence[str] | None = None) -> list[Claimed]:
        """Takes up to `limit` due deliveries (of messages of `kinds` only, when given): a lease of `lease`
        on each, attempts counted. On PostgreSQL rows another sender holds locked are skipped (FOR UPDATE
        SKIP LOCKED); SQLite runs one writer at a time, so the UPDATE's own WHERE is the claim."""
        due = (select(col(Delivery.id)).where(col(Delivery.status) == "pending", col(Delivery.due_at) <= now,
                                         col(Delivery.channel).in_(list(channels)),
                                         or_(col(Delivery.lease_until).is_(None), col(Delivery.lease_until) < now))
               .order_by(col(Delivery.due_at), col(Delivery.id)).limit(limit).with_for_update(skip_locked=True))
        if kinds is not None:
            # Correlated: each candidate delivery's message is looked up by its key, where an IN over
            # every message of these kinds read the whole table at each claim.
            due = due.where(exists().where(col(Message.id) == col(Delivery.message_id),
                                           col(Message.kind).in_(list(kinds))))
        rows = (await self.session.execute(
            update(Delivery).where(col(Delivery.id).in_(due.scalar_subquery()))
            .values(lease_until=now + lease, attempts=col(Delivery.attempts) + 1)
            .returning(col(Delivery.id), col(Delivery.attempts), col(Delivery.channel), col(Delivery.message_id))
            .execution_options(synchronize_session=False))).all()
        if not rows:
            return []
        found = {row[0]: row for row in (await self.session.execute(  # columns, not entities: a batch's worth
            select(col(Message.id), col(Message.key), col(Message.kind), col(Message.user_id), col(Message.drop_id),
                   col(Message.order_id), col(Message.params), col(User.email), col(User.display_name),
                   col(Recipient.language), col(Recipient.email_off))
            .join(User, col(User.id) == col(Message.user_id))
            .outerjoin(Recipient, col(Recipient.user_id) == col(Message.user_id))
            .where(col(Message.id).in_([row[3] for row in rows])))).all()}
        claimed = []
        for delivery_id, attempts, channel, message_id in rows:
            _, key, kind, user_id, drop_id, order_id, params, address, name, language, email_off = found[message_id]
            claimed.append(Claimed(delivery_id or 0, attempts, channel, message_id, key, kind, user_id, drop_id,
                                   order_id, orjson.loads(params), address, name, language or "en", bool(email_off)))
        return claimed

    async def settle(self, delivery_id: int, attempts: int, status: str, now: datetime,
                     error: str | None = None, due: datetime | None = None) -> None:
        values: dict[str, object] = {"status": status, "lease_until": None, "last_error": error}
        if status == "sent":
            values["sent_at"] = now
        if due is not None:
            values["due_at"] = due
        await self.session.execute(update(Delivery).where(col(Delivery.id) == delivery_id,
                                                          col(Delivery.attempts) == attempts).values(**values))

    async def settle_sent(self, delivery_ids: Sequence[int], lease_until: datetime, now: datetime) -> None:
        """Many sent at once: only rows still under this claim's lease (a lease another sender took
        over after it ran out is not marked by the first)."""
        for first in range(0, len(delivery_ids), 500):
            await self.session.execute(
                update(Delivery).where(col(Delivery.id).in_(list(delivery_ids[first:first + 500])),
                                       col(Delivery.lease_until) == lease_until)
                .values(status="sent", sent_at=now, lease_until=None, last_error=None)
                .execution_options(synchronize_session=False))

    async def backlog(self, now: datetime) -> int:
        """Deliveries due and not sent (a drop-open message staged for a later open is not yet due)."""
        return int((await self.session.execute(select(func.count()).select_from(Delivery).where(
            col(Delivery.status) == "pending", col(Delivery.due_at) <= now))).scalar_one())

    async def dead_letters(self, limit: int, before_id: int | None) -> list[tuple[Delivery, Message]]:
        query = (select(Delivery, Message).join(Message, col(Message.id) == col(Delivery.message_id))
                 .where(col(Delivery.status) == "failed").order_by(col(Delivery.id).desc()).limit(limit))
        if before_id is not None:
            query = query.where(col(Delivery.id) < before_id)
        return [(d, m) for d, m in (await self.session.execute(query)).all()]

    async def retry(self, delivery_id: int, now: datetime) -> bool:
        result = await self.session.execute(
            update(Delivery).where(col(Delivery.id) == delivery_id, col(Delivery.status) == "failed")
            .values(status="pending", due_at=now, attempts=0, lease_until=None))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def messages_of(self, user_id: int, limit: int, now: datetime) -> list[tuple[Message, list[Delivery]]]:
        """The account's messages whose time has come (a staged drop-open message shows from the open)."""
        messages = list((await self.session.execute(
            select(Message).where(col(Message.user_id) == user_id, col(Message.created_at) <= now)
            .order_by(col(Message.created_at).desc(), col(Message.id).desc())  # a staged one: by its open
            .limit(limit))).scalars().all())
        ids = [m.id for m in messages]
        by_message: dict[int, list[Delivery]] = {}
        if ids:
            for delivery in (await self.session.execute(
                    select(Delivery).where(col(Delivery.message_id).in_(ids)))).scalars().all():
                by_message.setdefault(delivery.message_id, []).append(delivery)
        return [(m, by_message.get(m.id or 0, [])) for m in messages]


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, user_id: int, drop_id: int, email: bool, push: bool, now: datetime) -> tuple[Reminder, bool]:
        """The reminder set (or its channels changed); True when it is new."""
        found = (await self.session.execute(select(Reminder).where(
            col(Reminder.user_id) == user_id, col(Reminder.drop_id) == drop_id))).scalar_one_or_none()
        if found is not None:
            found.email, found.push = email, push
            return found, False
        added = (await self.session.execute(
            dialect_insert(self.session)(Reminder).values(user_id=user_id, drop_id=drop_id, email=email, push=push,
                                                   created_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "drop_id"]).returning(col(Reminder.id)))).first()
        reminder = (await self.session.execute(select(Reminder).where(
            col(Reminder.user_id) == user_id, col(Reminder.drop_id) == drop_id))).scalar_one()
        if added is None:  # a concurrent PUT of the same account won: ours changes its channels
            reminder.email, reminder.push = email, push
        return reminder, added is not None

    async def delete(self, user_id: int, drop_id: int) -> bool:
        result = await self.session.execute(delete(Reminder).where(
            col(Reminder.user_id) == user_id, col(Reminder.drop_id) == drop_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def counts(self, drop_ids: Sequence[int]) -> dict[int, int]:
        if not drop_ids:
            return {}
        rows = (await self.session.execute(select(col(Reminder.drop_id), func.count()).where(
            col(Reminder.drop_id).in_(list(drop_ids))).group_by(col(Reminder.drop_id)))).all()
        return {int(d): int(n) for d, n in rows}

    async def reminded(self, user_id: int, drop_id: int, before: datetime | None = None) -> bool:
        query = select(col(Reminder.id)).where(col(Reminder.user_id) == user_id, col(Reminder.drop_id) == drop_id)
        if before is not None:
            query = query.where(col(Reminder.created_at) < before)
        return (await self.session.execute(query)).first() is not None


class RecipientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def set_language(self, user_id: int, language: str) -> None:
        statement = dialect_insert(self.session)(Recipient).values(user_id=user_id, language=language, email_off=False)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["user_id"],
                                                                   set_={"language": language}))

    async def set_email_off(self, user_id: int, off: bool) -> None:
        statement = dialect_insert(self.session)(Recipient).values(user_id=user_id, language="en", email_off=off)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["user_id"],
                                                                   set_={"email_off": off}))


class PushRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, user_id: int, endpoint: str, p256dh: str, auth: str, now: datetime) -> None:
        statement = dialect_insert(self.session)(PushSubscription).values(user_id=user_id, endpoint=endpoint,
                                                                   p256dh=p256dh, auth=auth, created_at=now)
        await self.session.execute(statement.on_conflict_do_update(
            index_elements=["endpoint"], set_={"user_id": user_id, "p256dh": p256dh, "auth": auth}))

    async def of_user(self, user_id: int) -> list[PushSubscription]:
        return list((await self.session.execute(select(PushSubscription).where(
            col(PushSubscription.user_id) == user_id))).scalars().all())

    async def remove(self, subscription_id: int) -> None:
        await self.session.execute(delete(PushSubscription).where(col(PushSubscription.id) == subscription_id))
