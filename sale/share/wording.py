"""The words of a share: how fast the buyer was, when the drop was, titles and a suggested post.

Shared by the page, the card and the API so that all three say the same thing. Nothing here may
mention the buyer's email, the order id or the price paid.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo


@dataclass(frozen=True, slots=True)
class Speed:
    preposition: str  # "in" | "with"
    amount: str       # "2.4 seconds" | "early access"

    @property
    def phrase(self) -> str:
        return f"{self.preposition} {self.amount}"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def speed_of(seconds: float) -> Speed:
    """From the drop's opening to the order: negative means the buyer used early access (an F-code)."""
    if seconds < 0:
        return Speed("with", "early access")
    if seconds < 1:
        return Speed("in", "under a second")
    if seconds < 10:
        tenths = int(seconds * 10) / 10  # 9.96 reads 9.9, never "10.0"
        return Speed("in", f"{tenths:.1f} seconds")
    if seconds < 60:
        return Speed("in", _plural(int(seconds), "second"))
    if seconds < 3600:
        return Speed("in", _plural(int(seconds // 60), "minute"))
    if seconds < 48 * 3600:
        return Speed("in", _plural(int(seconds // 3600), "hour"))
    return Speed("in", _plural(int(seconds // 86400), "day"))


def when(moment: datetime, zone: tzinfo) -> str:
    """"Tue 24 Nov 2026, 12:00 CST": in the store's time zone, the way the drop was announced."""
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname() or ''}".rstrip()


def title(product: str, speed: Speed, buyer: str | None) -> str:
    return f"{buyer} got the {product} {speed.phrase}" if buyer else f"Got the {product} {speed.phrase}"


def description(product: str, store: str, drop_when: str) -> str:
    return f"{product}: limited stock, {store} drop of {drop_when}. Don't miss the next one: get yours."


def suggested_post(product: str, store: str, speed: Speed) -> str:
    return f"I got the {product} {speed.phrase} at the {store} drop! Get yours:"


def card_lead(speed: Speed, buyer: str | None, max_name: int = 26) -> str:
    """The line above the amount; a long name is shortened so that "got one in" always shows."""
    if not buyer:
        return f"Got one {speed.preposition}"
    name = buyer if len(buyer) <= max_name else buyer[:max_name - 1].rstrip() + "…"
    return f"{name} got one {speed.preposition}"
