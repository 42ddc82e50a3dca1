"""The reservation-only window (预约): for `reservation_only_minutes` from starts_at, only accounts that
set a reminder before starts_at may buy or join the waiting room. Checked only inside the window of a
drop that has one: a Redis set per drop, loaded from SQL's reminders when missing (a flushed Redis),
kept current by reminders set or cancelled before the start."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from core.clock import Clock, as_utc
from core.keys import Keys
from core.redis import RedisClient
from messages.models import Reminder
from sale.catalog import DropCatalog
from sale.exceptions import DropNotFound, ReservationRequired
from sale.models import Drop

LOADED = "-"
KEEP_AFTER = timedelta(hours=1)


class ReservationWindow:
    def __init__(self, redis: RedisClient, keys: Keys, sessions: async_sessionmaker[AsyncSession],
                 catalog: DropCatalog, clock: Clock) -> None:
        self.redis = redis
        self.keys = keys
        self.sessions = sessions
        self.catalog = catalog
        self.clock = clock

    def _until(self, drop: Drop) -> datetime:
        return as_utc(drop.starts_at) + timedelta(minutes=drop.reservation_only_minutes)

    async def admit(self, drop_id: int, user_id: int, *, joining: bool = False) -> None:
        """403 reservation_required inside the window (for a join, from before the start) for an account
        without a reminder set before starts_at."""
        drop = await self.catalog.get(drop_id)
        if drop is None or not drop.reservation_only_minutes:
            return
        now = self.clock.now()
        if now >= self._until(drop) or (not joining and now < as_utc(drop.starts_at)):
            return
        key = self.keys.reserved(drop_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(key, str(user_id))
            pipe.exists(key)
            member, present = await pipe.execute()
        if not present:
            member = user_id in await self._load(drop)
        if not member:
            raise ReservationRequired()

    async def _load(self, drop: Drop) -> set[int]:
        assert drop.id is not None
        async with self.sessions() as session:
            users = {int(u) for u in (await session.execute(select(col(Reminder.user_id)).where(
                col(Reminder.drop_id) == drop.id, col(Reminder.created_at) < as_utc(drop.starts_at)))).scalars()}
        key = self.keys.reserved(drop.id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, LOADED, *(str(u) for u in users))
            pipe.expireat(key, self._until(drop) + KEEP_AFTER)
            await pipe.execute()
        return users

    async def has_channel(self, drop_id: int, user_id: int) -> bool:
        """Whether the account set a reminder with a channel on the drop (its waiting-room ticket is
        then told at admission instead of expiring for missing polls)."""
        return bool(await self.redis.sismember(self.keys.queue_channels(drop_id), str(user_id)))

    async def check(self, drop_id: int) -> None:
        if await self.catalog.get(drop_id) is None:
            raise DropNotFound()

    async def reminded(self, drop_id: int, user_id: int, present: bool, channel: bool) -> None:
        """A reminder set (with a channel) or cancelled: the waiting room tells the holder at admission;
        before the start it changes who may buy in the reservation-only window."""
        channels = self.keys.queue_channels(drop_id)
        if channel:
            await self.redis.sadd(channels, str(user_id))
        else:
            await self.redis.srem(channels, str(user_id))
        drop = await self.catalog.get(drop_id)
        if drop is None:
            return
        if not drop.reservation_only_minutes or self.clock.now() >= as_utc(drop.starts_at):
            return
        key = self.keys.reserved(drop_id)
        if present:
            if await self.redis.exists(key):
                await self.redis.sadd(key, str(user_id))
        else:
            await self.redis.srem(key, str(user_id))
