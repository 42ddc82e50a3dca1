"""The public page of a share link: a visit is counted, may set the referral cookie, and gets the page's
context (what the link's card says, and where to buy)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, as_utc
from core.db import DATABASE_DOWN
from core.i18n import DEFAULT, Translator, translator
from sale.drops import DropAdmin
from sale.models import Drop
from sale.share import wording
from sale.share.cards import ShareCards
from sale.share.credit import ReferralCredit
from sale.share.facts import Facts, ShareFacts
from sale.share.referral import crawler_of
from sale.share.repository import ShareRepository
from sale.share.views import ShareViews


@dataclass(frozen=True, slots=True)
class Visit:
    page: dict[str, Any]  # the page template's context
    cookie: str | None    # a referral cookie to set; None keeps what the browser has


class SharePage:
    def __init__(self, facts: ShareFacts, views: ShareViews, credit: ReferralCredit, cards: ShareCards,
                 drops: DropAdmin, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.facts = facts
        self.views = views
        self.credit = credit
        self.cards = cards
        self.site = cards.site
        self.drops = drops
        self.sessions = sessions
        self.clock = clock

    async def visit(self, token: str, client: str, user_agent: str, cookie: str | None,
                    lang: str = DEFAULT) -> Visit | None:
        facts = await self.facts.find(token)
        if facts is None:
            return None
        crawler = crawler_of(user_agent)
        await self.views.count(token, client, crawler)
        return Visit(page=await self._page(token, facts, translator(lang)),
                     cookie=self.credit.cookie(token, crawler, cookie))

    async def _get_yours(self, drop: Drop, tr: Translator) -> tuple[str, str]:
        """Where to buy: this drop while it can sell, else the SKU's next one, else (or unknown) the store."""
        now, base, zone = self.clock.now(), self.site.base_url, self.site.zone
        assert drop.id is not None
        try:
            if as_utc(drop.ends_at) > now:
                phase = (await self.drops.get_drop(drop.id)).phase  # a drop the catalog lacks: from SQL
                if phase == "open":
                    return f"{base}/drops/{drop.id}", tr("share.get_yours_now")
                if phase in ("upcoming", "priority"):
                    opens = wording.when(drop.starts_at, zone, tr)
                    return f"{base}/drops/{drop.id}", tr("share.get_yours_opens", when=opens)
            async with self.sessions() as session:
                following = await ShareRepository(session).next_drop_of_sku(drop.sku, drop.id, now)
        except DATABASE_DOWN:
            following = None
        if following is not None:
            return (f"{base}/drops/{following.id}",
                    tr("share.get_yours_next", when=wording.when(following.starts_at, zone, tr)))
        return f"{base}/", tr("share.see_upcoming")

    async def _page(self, token: str, facts: Facts, tr: Translator) -> dict[str, Any]:
        speed, drop, store = facts.speed(tr), facts.drop, self.site.store_name
        text = self.cards.text(facts, tr)
        drop_when = wording.when(drop.starts_at, self.site.zone, tr)
        href, label = await self._get_yours(drop, tr)
        return {
            "product": drop.name, "url": self.site.url(token), "image": self.cards.url(token, text, tr.lang),
            "title": wording.title(drop.name, speed, facts.buyer, tr),
            "description": wording.description(drop.name, store, drop_when, tr),
            "image_alt": tr("share.image_alt", lead=text.lead, amount=text.amount, product=drop.name,
                            drop_line=text.drop_line),
            "lead": text.lead, "amount": speed.amount, "when": drop_when, "drop_line": text.drop_line,
            "t": tr, "lang_tag": tr.tag,
            "starts_iso": as_utc(drop.starts_at).isoformat(),
            "get_yours_href": href, "get_yours_label": label,
            "secure": self.site.secure,
        }
