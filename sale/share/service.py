"""Share links: made when an order is paid, managed by its buyer, visited by anyone.

Attribution: a visit sets the signed `fs_ref` cookie unless the browser already holds a valid one,
so the first link a visitor opened keeps the credit for 7 days (later links do not take it over).
A purchase body's `ref` wins over the cookie. Credit is decided when counting, in SQL: only paid
orders of other buyers, through a live (not revoked, not replaced) link.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc, utcnow
from core.db import DATABASE_DOWN
from core.i18n import DEFAULT, Translator, translator
from core.redis import LuaScript
from core.runtime import Runtime
from core.tokens import Claims
from sale.drops import DropAdmin
from sale.exceptions import OrderNotFound
from sale.images.store import MediaStore
from sale.live_order import LiveOrder
from sale.lookup import OrderLookup
from sale.models import Drop
from sale.share import wording
from sale.share.card import CardStore, CardText
from sale.share.exceptions import OrderNotPaid, ShareLinkNotFound
from sale.share.models import ShareLink
from sale.share.referral import ReferralSigner, crawler_of, looks_like_token, new_token, token_hash
from sale.share.repository import ShareRepository
from sale.share.schemas import ShareOut, ShareUpdate

log = logging.getLogger("flashsale.share")
VIEW_WINDOW_SECONDS = 3600  # one view per visitor per link per hour
UNRECORDED_TTL_SECONDS = 7 * 24 * 3600  # far beyond any database outage the sink waits out


def link_of(order: LiveOrder, token: str) -> ShareLink:
    """A paid order's link row (what the page needs is copied from the order)."""
    return ShareLink(order_id=str(order["id"]), token=token, user_id=int(order["user_id"]),
                     drop_id=int(order["drop_id"]), sku=str(order["sku"]),
                     ordered_at=datetime.fromtimestamp(int(order["created_ms"]) / 1000, UTC), created_at=utcnow())


@dataclass(frozen=True, slots=True)
class Facts:
    """A live link and what its page and card show."""

    link: ShareLink
    drop: Drop
    buyer: str | None  # the display name, only when the buyer opted in

    def speed(self, tr: Translator = wording.ENGLISH) -> wording.Speed:
        return wording.speed_of((as_utc(self.link.ordered_at) - as_utc(self.drop.starts_at)).total_seconds(), tr)


@dataclass(frozen=True, slots=True)
class Visit:
    page: dict[str, Any]  # the page template's context
    cookie: str | None    # a referral cookie to set; None keeps what the browser has


@dataclass(frozen=True, slots=True)
class Card:
    etag: str
    current: bool       # asked for by its current versioned URL: cacheable for good
    png: bytes | None   # None: the client's copy is current (304)


class ShareService:
    def __init__(self, runtime: Runtime, drops: DropAdmin, lookup: OrderLookup, signer: ReferralSigner,
                 count_view: LuaScript) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.drops = drops
        self.lookup = lookup
        self.signer = signer
        self.cards = CardStore(runtime.settings.var_dir / "cards", MediaStore(runtime.settings.media_root).drops)
        self._count_view = count_view
        base = urlsplit(self.settings.base_url)
        self.site = base.hostname or "localhost"
        self.site = f"{self.site}:{base.port}" if base.port else self.site

    def url(self, token: str) -> str:
        return f"{self.settings.base_url}/s/{token}"

    def card_url(self, token: str, text: CardText, lang: str = DEFAULT) -> str:
        suffix = "" if lang == DEFAULT else f"&lang={lang}"
        return f"{self.url(token)}/card.png?v={text.digest()}{suffix}"

    # -- what the sale's orders and the order sink call ------------------------------------------------
    def mint_token(self) -> str:
        return new_token()

    async def record_paid(self, session: AsyncSession, orders: Sequence[LiveOrder]) -> None:
        """The order sink's hook: each paid order's link row, with the token minted at payment."""
        links = [link_of(order, str(order["share"])) for order in orders if order.get("share")]
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
            if order is None or int(order["user_id"]) != claims.user_id:
                raise OrderNotFound()
            if order["status"] != "paid":
                raise OrderNotPaid()
            # The sink has not written the row yet (or the order predates tokens minted at payment).
            await repo.add_if_absent([link_of(order, str(order.get("share") or new_token()))])
            link = await repo.by_order(order_id)
            assert link is not None
        elif link.user_id != claims.user_id:
            raise OrderNotFound()  # the same answer as for an order that does not exist
        return link

    async def _facts_of(self, session: AsyncSession, link: ShareLink) -> Facts | None:
        repo = ShareRepository(session)
        drop = await repo.drop(link.drop_id)
        if drop is None:
            return None
        return Facts(link, drop, await repo.display_name(link.user_id) if link.show_name else None)

    async def _out(self, session: AsyncSession, link: ShareLink) -> ShareOut:
        facts = await self._facts_of(session, link)
        if facts is None:
            raise ShareLinkNotFound()
        views, crawler_views = await self.runtime.redis.hmget(
            self.runtime.keys.share_views(token_hash(link.token)), ["views", "crawler_views"])
        return ShareOut(url=self.url(link.token), card_url=self.card_url(link.token, self.card_text(facts)),
                        text=wording.suggested_post(facts.drop.name, self.settings.store_name, facts.speed()),
                        show_name=link.show_name, created_at=as_utc(link.created_at),
                        views=int(views or 0), crawler_views=int(crawler_views or 0),
                        referred_orders=await ShareRepository(session).referred_paid(link.token))

    async def share_of(self, session: AsyncSession, claims: Claims, order_id: str) -> ShareOut:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is not None:
            raise ShareLinkNotFound()
        return await self._out(session, link)

    async def new_link(self, session: AsyncSession, claims: Claims, order_id: str) -> ShareOut:
        """A fresh token for the order; any earlier one is dead from now on."""
        link = await self._owned(session, claims, order_id)
        old = link.token
        await ShareRepository(session).replace_token(order_id, new_token(), utcnow())
        await self._forget(old)
        fresh = await ShareRepository(session).by_order(order_id)
        assert fresh is not None
        return await self._out(session, fresh)

    async def revoke(self, session: AsyncSession, claims: Claims, order_id: str) -> None:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is None:
            await ShareRepository(session).revoke(order_id, utcnow())
            await self._forget(link.token)

    async def update(self, session: AsyncSession, claims: Claims, order_id: str,
                     body: ShareUpdate) -> ShareOut:
        link = await self._owned(session, claims, order_id)
        if link.revoked_at is not None:
            raise ShareLinkNotFound()
        await ShareRepository(session).set_show_name(order_id, body.show_name)
        await asyncio.to_thread(self.cards.forget, token_hash(link.token))  # the other wording's card
        fresh = await ShareRepository(session).by_order(order_id)
        assert fresh is not None
        return await self._out(session, fresh)

    async def _forget(self, token: str) -> None:
        hashed = token_hash(token)
        await asyncio.to_thread(self.cards.forget, hashed)
        await self.runtime.redis.delete(self.runtime.keys.share_views(hashed),
                                        self.runtime.keys.share_unrecorded(hashed))

    # -- the public page and card ---------------------------------------------------------------
    # Each read has a connection for just that read: a load never holds one while the catalog or loader waits
    # for another, so a crowd larger than the pool queues for connections instead of deadlocking on them.
    async def facts(self, token: str) -> Facts | None:
        """The link's facts from its row; while the row has not landed (the sink writes it, and the
        database may be unreachable for a while) from the paid order Redis holds."""
        if not looks_like_token(token):
            return None  # junk and overlong tokens never reach the database
        try:
            async with self.runtime.sessions() as session:
                link = await ShareRepository(session).by_token(token)
                if link is not None:
                    return await self._facts_of(session, link) if link.revoked_at is None else None
        except DATABASE_DOWN:
            log.warning("share page served from Redis: the database is unreachable")
        return await self._unrecorded_facts(token)

    async def hold_until_recorded(self, order: LiveOrder) -> None:
        """Keeps a just-paid order's link servable from Redis until the sink writes its row."""
        token = order.get("share")
        if token:
            await self.runtime.redis.set(self.runtime.keys.share_unrecorded(token_hash(str(token))),
                                         orjson.dumps(order), ex=UNRECORDED_TTL_SECONDS)

    async def _unrecorded_facts(self, token: str) -> Facts | None:
        raw = await self.runtime.redis.get(self.runtime.keys.share_unrecorded(token_hash(token)))
        if raw is None:
            return None
        order = orjson.loads(raw)
        drop = await self.drops.drop_record(int(order["drop_id"]))
        return Facts(link_of(order, token), drop, None) if drop is not None else None

    def card_text(self, facts: Facts, tr: Translator = wording.ENGLISH) -> CardText:
        speed = facts.speed(tr)
        picture = MediaStore.card_picture(facts.drop.image)
        return CardText(store=self.settings.store_name, product=facts.drop.name,
                        lead=wording.card_lead(speed, facts.buyer, tr=tr), amount=speed.amount,
                        drop_line=tr("share.drop_line",
                                     when=wording.when(facts.drop.starts_at, self.settings.zone, tr)),
                        site=self.site, cta="" if tr.lang == DEFAULT else tr("share.cta_site", site=self.site),
                        picture=picture or "")

    async def visit(self, token: str, client: str, user_agent: str, cookie: str | None,
                    lang: str = DEFAULT) -> Visit | None:
        facts = await self.facts(token)
        if facts is None:
            return None
        crawler = crawler_of(user_agent)
        await self._count(token, client, crawler)
        # First referrer wins: a browser holding a valid referral cookie keeps it.
        keep = crawler is not None or self.signer.verify(cookie) is not None
        return Visit(page=await self._page(token, facts, translator(lang)),
                     cookie=None if keep else self.signer.sign(token))

    async def _count(self, token: str, client: str, crawler: str | None) -> None:
        hashed, keys = token_hash(token), self.runtime.keys
        try:
            await self._count_view(self.runtime.redis,
                                   [keys.share_seen(hashed, self.signer.visitor(client, crawler)),
                                    keys.share_views(hashed)],
                                   ["crawler_views" if crawler else "views", VIEW_WINDOW_SECONDS])
        except RedisError as exc:  # a lost view count must not cost the visitor the page
            log.warning("share view not counted: %s", type(exc).__name__)

    async def _get_yours(self, drop: Drop, tr: Translator) -> tuple[str, str]:
        """Where to buy: this drop while it can sell, else the SKU's next one, else (or unknown) the store."""
        now, base, zone = utcnow(), self.settings.base_url, self.settings.zone
        assert drop.id is not None
        try:
            if as_utc(drop.ends_at) > now:
                phase = (await self.drops.get_drop(drop.id)).phase  # a drop the catalog lacks: from SQL
                if phase == "open":
                    return f"{base}/drops/{drop.id}", tr("share.get_yours_now")
                if phase in ("upcoming", "priority"):
                    opens = wording.when(drop.starts_at, zone, tr)
                    return f"{base}/drops/{drop.id}", tr("share.get_yours_opens", when=opens)
            async with self.runtime.sessions() as session:
                following = await ShareRepository(session).next_drop_of_sku(drop.sku, drop.id, now)
        except DATABASE_DOWN:
            following = None
        if following is not None:
            return (f"{base}/drops/{following.id}",
                    tr("share.get_yours_next", when=wording.when(following.starts_at, zone, tr)))
        return f"{base}/", tr("share.see_upcoming")

    async def _page(self, token: str, facts: Facts, tr: Translator) -> dict[str, Any]:
        speed, drop, store = facts.speed(tr), facts.drop, self.settings.store_name
        text = self.card_text(facts, tr)
        drop_when = wording.when(drop.starts_at, self.settings.zone, tr)
        href, label = await self._get_yours(drop, tr)
        return {
            "product": drop.name, "url": self.url(token), "image": self.card_url(token, text, tr.lang),
            "title": wording.title(drop.name, speed, facts.buyer, tr),
            "description": wording.description(drop.name, store, drop_when, tr),
            "image_alt": tr("share.image_alt", lead=text.lead, amount=text.amount, product=drop.name,
                            drop_line=text.drop_line),
            "lead": text.lead, "amount": speed.amount, "when": drop_when, "drop_line": text.drop_line,
            "t": tr, "lang_tag": tr.tag,
            "starts_iso": as_utc(drop.starts_at).isoformat(),
            "get_yours_href": href, "get_yours_label": label,
            "secure": self.settings.base_url.startswith("https://"),
        }

    async def card(self, token: str, version: str | None, if_none_match: str | None,
                   lang: str = DEFAULT) -> Card | None:
        facts = await self.facts(token)
        if facts is None:
            return None
        text = self.card_text(facts, translator(lang))
        etag = f'"{text.digest()}"'
        current = version == text.digest()
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            if etag in tags or "*" in tags:
                return Card(etag, current, None)
        return Card(etag, current, await self.cards.png(token_hash(token), text))
