"""Views of a share link: counted in Redis at most once per visitor per hour, link-preview fetchers apart."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from core.keys import Keys
from core.redis import LuaScript, RedisClient
from sale.share.referral import ReferralSigner, token_hash

log = logging.getLogger("flashsale.share")
VIEW_WINDOW_SECONDS = 3600  # one view per visitor per link per hour


@dataclass(frozen=True, slots=True)
class ViewCounts:
    views: int
    crawler_views: int


class ShareViews:
    def __init__(self, redis: RedisClient, keys: Keys, count_view: LuaScript, signer: ReferralSigner) -> None:
        self.redis = redis
        self.keys = keys
        self._count_view = count_view  # share_view.lua
        self.signer = signer  # its keyed visitor hash dedupes views without storing addresses

    async def count(self, token: str, client: str, crawler: str | None) -> None:
        hashed = token_hash(token)
        try:
            await self._count_view(self.redis,
                                   [self.keys.share_seen(hashed, self.signer.visitor(client, crawler)),
                                    self.keys.share_views(hashed)],
                                   ["crawler_views" if crawler else "views", VIEW_WINDOW_SECONDS])
        except RedisError as exc:  # a lost view count must not cost the visitor the page
            log.warning("share view not counted: %s", type(exc).__name__)

    async def counts(self, token: str) -> ViewCounts:
        views, crawler_views = await self.redis.hmget(self.keys.share_views(token_hash(token)),
                                                      ["views", "crawler_views"])
        return ViewCounts(int(views or 0), int(crawler_views or 0))

    async def forget(self, token: str) -> None:
        await self.redis.delete(self.keys.share_views(token_hash(token)))
