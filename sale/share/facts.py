"""A share link's facts (what its page and card show): from the link's row, or from the paid order Redis
holds while the sink has not written that row (or the database is unreachable)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, as_utc
from core.db import DATABASE_DOWN
from core.i18n import Translator
from core.keys import Keys
from core.redis import RedisClient
from sale.drops import DropAdmin
from sale.live_order import LiveOrder
from sale.models import Drop
from sale.share import wording
from sale.share.models import ShareLink
from sale.share.referral import looks_like_token, token_hash
from sale.share.repository import ShareRepository

log = logging.getLogger("flashsale.share")
UNRECORDED_TTL_SECONDS = 7 * 24 * 3600  # far beyond any database outage the sink waits out


@dataclass(frozen=True, slots=True)
class ShareSite:
    """The store as its share links and cards name it."""

    base_url: str
    store_name: str
    zone: tzinfo

    def url(self, token: str) -> str:
        return f"{self.base_url}/s/{token}"

    @property
    def host(self) -> str:
        """"shop.example" or "127.0.0.1:8000": what a card prints as the store's address."""
        base = urlsplit(self.base_url)
        name = base.hostname or "localhost"
        return f"{name}:{base.port}" if base.port else name

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")


def link_of(order: LiveOrder, token: str, now: datetime) -> ShareLink:
    """A paid order's link row (what the page needs is copied from the order)."""
    return ShareLink(order_id=order.id, token=token, user_id=order.user_id, drop_id=order.drop_id, sku=order.sku,
                     ordered_at=datetime.fromtimestamp(order.created_ms / 1000, UTC), created_at=now)


@dataclass(frozen=True, slots=True)
class Facts:
    """A live link and what its page and card show."""

    link: ShareLink
    drop: Drop
    buyer: str | None  # the display name, only when the buyer opted in

    def speed(self, tr: Translator = wording.ENGLISH) -> wording.Speed:
        return wording.speed_of((as_utc(self.link.ordered_at) - as_utc(self.drop.starts_at)).total_seconds(), tr)


class ShareFacts:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: RedisClient, keys: Keys,
                 drops: DropAdmin, clock: Clock) -> None:
        self.sessions = sessions
        self.redis = redis
        self.keys = keys
        self.drops = drops
        self.clock = clock

    async def of_link(self, session: AsyncSession, link: ShareLink) -> Facts | None:
        repo = ShareRepository(session)
        drop = await repo.drop(link.drop_id)
        if drop is None:
            return None
        return Facts(link, drop, await repo.display_name(link.user_id) if link.show_name else None)

    # A public read has a connection for just that read: a load never holds one while the catalog or loader
    # waits for another, so a crowd larger than the pool queues for connections instead of deadlocking on them.
    async def find(self, token: str) -> Facts | None:
        """A live link's facts; None for a revoked, replaced or unknown token."""
        if not looks_like_token(token):
            return None  # junk and overlong tokens never reach the database
        try:
            async with self.sessions() as session:
                link = await ShareRepository(session).by_token(token)
                if link is not None:
                    return await self.of_link(session, link) if link.revoked_at is None else None
        except DATABASE_DOWN:
            log.warning("share page served from Redis: the database is unreachable")
        return await self._unrecorded(token)

    async def hold_until_recorded(self, order: LiveOrder) -> None:
        """Keeps a just-paid order's link servable from Redis until the sink writes its row."""
        if order.share:
            await self.redis.set(self.keys.share_unrecorded(token_hash(order.share)), order.lua_json(),
                                 ex=UNRECORDED_TTL_SECONDS)

    async def _unrecorded(self, token: str) -> Facts | None:
        raw = await self.redis.get(self.keys.share_unrecorded(token_hash(token)))
        if raw is None:
            return None
        order = LiveOrder.decode(raw)
        drop = await self.drops.drop_record(order.drop_id)
        return Facts(link_of(order, token, self.clock.now()), drop, None) if drop is not None else None

    async def forget(self, token: str) -> None:
        await self.redis.delete(self.keys.share_unrecorded(token_hash(token)))
