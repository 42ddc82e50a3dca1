"""A share link's card: its wording (`CardText`, from the link's facts), its versioned URL, and the PNG
with an ETag (rendered once per wording by `CardStore`)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from core.i18n import DEFAULT, Translator, translator
from sale.images.store import MediaStore
from sale.share import wording
from sale.share.card import CardStore, CardText
from sale.share.facts import Facts, ShareFacts, ShareSite
from sale.share.referral import token_hash


@dataclass(frozen=True, slots=True)
class Card:
    etag: str
    current: bool       # asked for by its current versioned URL: cacheable for good
    png: bytes | None   # None: the client's copy is current (304)


class ShareCards:
    def __init__(self, site: ShareSite, store: CardStore, facts: ShareFacts) -> None:
        self.site = site
        self.store = store
        self.facts = facts

    def text(self, facts: Facts, tr: Translator = wording.ENGLISH) -> CardText:
        speed = facts.speed(tr)
        host = self.site.host
        return CardText(store=self.site.store_name, product=facts.drop.name,
                        lead=wording.card_lead(speed, facts.buyer, tr=tr), amount=speed.amount,
                        drop_line=tr("share.drop_line", when=wording.when(facts.drop.starts_at, self.site.zone, tr)),
                        site=host, cta="" if tr.lang == DEFAULT else tr("share.cta_site", site=host),
                        picture=MediaStore.card_picture(facts.drop.image) or "")

    def url(self, token: str, text: CardText, lang: str = DEFAULT) -> str:
        """Versioned by the wording's digest: a new wording is a new URL, so an old one can be cached for good."""
        suffix = "" if lang == DEFAULT else f"&lang={lang}"
        return f"{self.site.url(token)}/card.png?v={text.digest()}{suffix}"

    async def card(self, token: str, version: str | None, if_none_match: str | None,
                   lang: str = DEFAULT) -> Card | None:
        facts = await self.facts.find(token)
        if facts is None:
            return None
        text = self.text(facts, translator(lang))
        etag = f'"{text.digest()}"'
        current = version == text.digest()
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            if etag in tags or "*" in tags:
                return Card(etag, current, None)
        return Card(etag, current, await self.store.png(token_hash(token), text))

    async def forget(self, token: str) -> None:
        """Drops the link's rendered cards (revoked, replaced, or reworded)."""
        await asyncio.to_thread(self.store.forget, token_hash(token))
