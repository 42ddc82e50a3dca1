"""What the routes call: reminders, the caller's messages, push subscriptions, unsubscribing, and the
operators' view of dead letters."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.i18n import supported
from core.keys import Keys
from core.redis import RedisClient
from messages.channels import UnsubscribeLinks, link_of
from messages.drop_open import restage_reminder
from messages.exceptions import BadUnsubscribeLink, MessageNotFound, PushUnavailable
from messages.push import check_endpoint
from messages.repository import OutboxRepository, PushRepository, RecipientRepository, ReminderRepository
from messages.schemas import (
    ChannelName,
    DeadLetterOut,
    DeadLettersOut,
    MessageOut,
    PushKeyOut,
    PushSubscriptionIn,
    ReminderOut,
)
from messages.texts import render

MESSAGES_SHOWN = 100
DEAD_LETTERS_PAGE = 100


class DropHook(Protocol):
    """The sale's side of a reminder set (present) or cancelled: raises the sale's drop_not_found when
    setting one on a drop that does not exist (the sale sits above this floor)."""

    async def check(self, drop_id: int) -> None: ...

    async def reminded(self, drop_id: int, user_id: int, present: bool, channel: bool) -> None: ...


class ReminderCounts:
    """A drop's `reservations`, read with the listings from Redis: raised and lowered as reminders come
    and go, rewritten from SQL's count by the scheduler."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def counts(self, drop_ids: Sequence[int]) -> list[int]:
        if not drop_ids:
            return []
        found = await self.redis.hmget(self.keys.reminder_counts, [str(d) for d in drop_ids])
        return [max(0, int(v)) if v else 0 for v in found]

    async def change(self, drop_id: int, by: int) -> None:
        await self.redis.hincrby(self.keys.reminder_counts, str(drop_id), by)

    async def rewrite(self, counts: dict[int, int]) -> None:
        if counts:
            await self.redis.hset(self.keys.reminder_counts, mapping={str(d): n for d, n in counts.items()})


class MessageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, counts: ReminderCounts,
                 drops: DropHook, unsubscribe: UnsubscribeLinks, base_url: str, vapid_public_key: str | None,
                 development: bool) -> None:
        self.vapid_public_key = vapid_public_key
        self.development = development  # push endpoints on loopback are allowed (local push services)
        self.sessions = sessions
        self.clock = clock
        self.counts = counts
        self.drops = drops
        self.unsubscribe_links = unsubscribe
        self.base_url = base_url

    async def put_reminder(self, user_id: int, drop_id: int, channels: Sequence[ChannelName],
                           language: str) -> ReminderOut:
        await self.drops.check(drop_id)
        async with self.sessions.begin() as session:
            reminder, new = await ReminderRepository(session).put(user_id, drop_id, "email" in channels,
                                                                  "push" in channels, self.clock.now())
            await session.flush()  # a staging write holding the reminder: wait for it, then see its message
            await restage_reminder(session, user_id, drop_id, reminder.email, reminder.push, self.clock.now())
            await RecipientRepository(session).set_language(user_id, supported(language) or "en")
        if new:
            await self.counts.change(drop_id, 1)
        chosen: list[ChannelName] = [c for c in ("email", "push") if getattr(reminder, c)]
        await self.drops.reminded(drop_id, user_id, True, bool(chosen))
        return ReminderOut(drop_id=drop_id, channels=chosen, created_at=reminder.created_at)

    def push_key(self) -> PushKeyOut:
        if self.vapid_public_key is None:
            raise PushUnavailable()
        return PushKeyOut(vapid_public_key=self.vapid_public_key)

    async def subscribe(self, user_id: int, body: PushSubscriptionIn, language: str) -> None:
        if self.vapid_public_key is None:
            raise PushUnavailable()
        await check_endpoint(body.endpoint, development=self.development)
        async with self.sessions.begin() as session:
            await PushRepository(session).put(user_id, body.endpoint, body.keys.p256dh, body.keys.auth,
                                              self.clock.now())
            await RecipientRepository(session).set_language(user_id, supported(language) or "en")

    async def delete_reminder(self, user_id: int, drop_id: int) -> None:
        async with self.sessions.begin() as session:
            gone = await ReminderRepository(session).delete(user_id, drop_id)
            await restage_reminder(session, user_id, drop_id, False, False, self.clock.now())
        if gone:
            await self.counts.change(drop_id, -1)
            await self.drops.reminded(drop_id, user_id, False, False)

    async def messages(self, user_id: int, language: str) -> list[MessageOut]:
        async with self.sessions() as session:
            found = await OutboxRepository(session).messages_of(user_id, MESSAGES_SHOWN, self.clock.now())
        out = []
        for message, deliveries in found:
            assert message.id is not None
            link = link_of(self.base_url, message.kind, message.drop_id, message.order_id)
            words = render(message.kind, {**orjson.loads(message.params), "link": link}, language)
            channels = {d.channel: d.status for d in deliveries if d.status in ("pending", "sent", "failed")}
            out.append(MessageOut(id=message.id, kind=message.kind, drop_id=message.drop_id,
                                  order_id=message.order_id, text=words.body, created_at=message.created_at,
                                  channels=channels))
        return out

    async def backlog(self) -> int:
        """Deliveries waiting to be sent (core.metrics.OutboxBacklog: /metrics's flashsale_outbox_backlog)."""
        async with self.sessions() as session:
            return await OutboxRepository(session).backlog(self.clock.now())

    async def dead_letters(self, cursor: str | None) -> DeadLettersOut:
        before = int(cursor) if cursor and cursor.isdigit() and len(cursor) < 19 else None
        async with self.sessions() as session:
            rows = await OutboxRepository(session).dead_letters(DEAD_LETTERS_PAGE, before)
        items = [DeadLetterOut(delivery_id=d.id or 0, message_id=m.id or 0, user_id=m.user_id, kind=m.kind,
                               channel=d.channel, attempts=d.attempts, last_error=d.last_error,
                               created_at=m.created_at) for d, m in rows]
        more = len(items) == DEAD_LETTERS_PAGE
        return DeadLettersOut(items=items, next_cursor=str(items[-1].delivery_id) if more else None)

    async def retry(self, delivery_id: int) -> None:
        async with self.sessions.begin() as session:
            if not await OutboxRepository(session).retry(delivery_id, self.clock.now()):
                raise MessageNotFound("No dead letter with this id")

    async def unsubscribe(self, token: str) -> None:
        user_id = self.unsubscribe_links.user_of(token)
        if user_id is None:
            raise BadUnsubscribeLink()
        async with self.sessions.begin() as session:
            await RecipientRepository(session).set_email_off(user_id, True)
