"""Share links: made when an order is paid (the token minted at payment, the row written by the order
sink), then managed by their buyer: read with their counts, replaced, reworded, revoked."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import Clock, as_utc
from core.tokens import Claims
from sale.exceptions import OrderNotFound
from sale.live_order import LiveOrder
from sale.lookup import OrderLookup
from sale.share import wording
from sale.share.cards import ShareCards
from sale.share.credit import ReferralCredit
from sale.share.exceptions import OrderNotPaid, ShareLinkNotFound
from sale.share.facts import ShareFacts, ShareSite, link_of
from sale.share.models import ShareLink
from sale.share.referral import new_token
from sale.share.repository import ShareRepository
from sale.share.schemas import ShareOut, ShareUpdate
from sale.share.views import ShareViews


class ShareLinks:
    def __init__(self, site: ShareSite, lookup: OrderLookup, facts: ShareFacts, views: ShareViews,
                 credit: ReferralCredit, cards: ShareCards, clock: Clock) -> None:
        self.site = site
        self.lookup = lookup
        self.facts = facts
        self.views = views
        self.credit = credit
        self.cards = cards
        self.clock = clock

    def url(self, token: str) -> str:
        return self.site.url(token)

    # -- what the sale's orders and the order sink call ------------------------------------------------
    def mint_token(self) -> str:
        return new_token()

    async def hold_until_recorded(self, order: LiveOrder) -> None:
        """Keeps a just-paid order's link servable from Redis until the sink writes its row."""
        await self.facts.hold_until_recorded(order)

    async def record_paid(self, session: AsyncSession, orders: Sequence[LiveOrder]) -> None:
        """The order sink's hook: each paid order's link row, with the token minted at payment."""
        now = self.clock.now()
        links = [link_of(order, order.share, now) for order in orders if order.share]
        await ShareRepository(session).add_if_absent(links)

    async def links(self, session: AsyncSession, order_ids: list[str]) -> dict[str, str | None]:
        if not order_ids:
            return {}
        tokens = await ShareRepository(session).tokens(order_ids)
        return {order_id: None if revoked else self.url(token) for order_id, (token, revoked) in tokens.items()}

    # -- the buyer's API ------------------------------------------------------------------------
    async def _owned(self, session: AsyncSession, claims: Claims, order_id: str) -> ShareLink:
        """The caller's order's link; a paid order without one (its pay request's write was lost) gets one."""
        repo = ShareRepository(session)
        link = await repo.by_order(order_id)
        if link is None:
            order = await self.lookup.find(order_id, session)
            if order is None or order.user_id != claims.user_id:
                raise OrderNotFound()
            if order.status != "paid":
                raise OrderNotPaid()
            # The sink has not written the row yet (or the order predates tokens minted at payment).
            await repo.add_if_absent([link_of(order, order.share or new_token(), self.clock.now())])
            link = await repo.by_order(order_id)
            assert link is not None
        elif link.user_id != claims.user_id:
            raise OrderNotFound()  # the same answer as for an order that does not exist
        return link

    async def _out(self, session: AsyncSession, link: ShareLink) -> ShareOut:
        facts = await self.facts.of_link(session, link)
        if facts is None:
            raise ShareLinkNotFound()
        counts = await self.views.counts(link.token)
        return ShareOut(url=self.url(link.token), card_url=self.cards.url(link.token, self.cards.text(facts)),
                        text=wording.suggested_post(facts.drop.name, self.site.store_name, facts.speed()),
                        show_name=link.show_name, created_at=as_utc(link.created_at),
                        views=counts.views, crawler_views=counts.crawler_views,
                        referred_orders=await self.credit.referred(session, link.token))

    async def _fresh(self, session: AsyncSession, order_id: str) -> ShareOut:
        link = await ShareRepository(session).by_order(order_id)
        assert link is not None
        return await self._out(session, link)

    async def share_of(self, session: AsyncSession, claims: Claims, order_id: str) -> ShareOut:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is not None:
            raise ShareLinkNotFound()
        return await self._out(session, link)

    async def new_link(self, session: AsyncSession, claims: Claims, order_id: str) -> ShareOut:
        """A fresh token for the order; any earlier one is dead from now on."""
        link = await self._owned(session, claims, order_id)
        old = link.token
        await ShareRepository(session).replace_token(order_id, new_token(), self.clock.now())
        await self._forget(old)
        return await self._fresh(session, order_id)

    async def revoke(self, session: AsyncSession, claims: Claims, order_id: str) -> None:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is None:
            await ShareRepository(session).revoke(order_id, self.clock.now())
            await self._forget(link.token)

    async def update(self, session: AsyncSession, claims: Claims, order_id: str, body: ShareUpdate) -> ShareOut:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is not None:
            raise ShareLinkNotFound()
        await ShareRepository(session).set_show_name(order_id, body.show_name)
        await self.cards.forget(link.token)  # the other wording's card
        return await self._fresh(session, order_id)

    async def _forget(self, token: str) -> None:
        await self.cards.forget(token)
        await self.views.forget(token)
        await self.facts.forget(token)
