"""The words of a share: how fast the buyer was, when the drop was, titles and a suggested post.

Shared by the page, the card and the API so that all three say the same thing, in the language
asked for (core/i18n catalogues; English by default). Nothing here may mention the buyer's email,
the order id or the price paid.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from core.i18n import Translator, translator

ENGLISH = translator("en")


@dataclass(frozen=True, slots=True)
class Speed:
    preposition: str  # "in" | "with": which form of the sentences to use
    amount: str       # "2.4 seconds" | "early access"

    @property
    def phrase(self) -> str:
        return f"{self.preposition} {self.amount}"


def speed_of(seconds: float, tr: Translator = ENGLISH) -> Speed:
    """From the drop's opening to the order: negative means the buyer used early access (an F-code)."""
    if seconds < 0:
        return Speed("with", tr("share.speed.early"))
    if seconds < 1:
        return Speed("in", tr("share.speed.under_second"))
    if seconds < 10:
        tenths = int(seconds * 10) / 10  # 9.96 reads 9.9, never "10.0"
        return Speed("in", tr("share.speed.tenths", seconds=f"{tenths:.1f}"))
    for limit, unit, size in ((60, "seconds", 1), (3600, "minutes", 60), (48 * 3600, "hours", 3600)):
        if seconds < limit:
            return Speed("in", tr(f"share.speed.{unit}", count=int(seconds // size)))
    return Speed("in", tr("share.speed.days", count=int(seconds // 86400)))


def when(moment: datetime, zone: tzinfo, tr: Translator = ENGLISH) -> str:
    """"Tue 24 Nov 2026, 12:00 Beijing time" ("北京时间"): in the store's time zone, the way the drop was
    announced. China's zone is named (its abbreviation "CST" reads as US Central); others by abbreviation."""
    local = moment.astimezone(zone)
    named = tr("time.zone.beijing") if str(zone) in _CHINA else ""
    if named and tr.lang == "zh":
        return f"{named} {tr.datetime(moment, zone)}"  # 北京时间 2026年12月8日 周二 12:00
    return f"{tr.datetime(moment, zone)} {named or local.tzname() or ''}".rstrip()


# China's zone: its abbreviation "CST" misleads, so it is named ("time.zone.beijing").
_CHINA = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"})


def title(product: str, speed: Speed, buyer: str | None, tr: Translator = ENGLISH) -> str:
    if buyer:
        return tr(f"share.title_named.{speed.preposition}", name=buyer, product=product, amount=speed.amount)
    return tr(f"share.title.{speed.preposition}", product=product, amount=speed.amount)


def description(product: str, store: str, drop_when: str, tr: Translator = ENGLISH) -> str:
    return tr("share.description", product=product, store=store, when=drop_when)


def suggested_post(product: str, store: str, speed: Speed, tr: Translator = ENGLISH) -> str:
    return tr(f"share.post.{speed.preposition}", product=product, store=store, amount=speed.amount)


def card_lead(speed: Speed, buyer: str | None, max_name: int = 26, tr: Translator = ENGLISH) -> str:
    """The line above the amount; a long name is shortened so that "got one in" always shows."""
    if not buyer:
        return tr(f"share.lead.{speed.preposition}")
    name = buyer if len(buyer) <= max_name else buyer[:max_name - 1].rstrip() + "…"
    return tr(f"share.lead_named.{speed.preposition}", name=name)
