"""The buyer's language: catalogues (one JSON file per language beside this module), negotiation from
a cookie or Accept-Language, and locale-aware dates and money (Babel).

Keys are flat dotted names; values may hold `{name}` placeholders. A plural message has the variants
`key.one` / `key.other` (CLDR categories; Chinese and Korean only use `other`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_currency, get_currency_precision

CATALOGUES = Path(__file__).resolve().parent
LANGUAGES = ("en", "zh", "ko")
DEFAULT = "en"
COOKIE = "fs_lang"
# BCP 47 tags for <html lang>, the browser's Intl APIs and hreflang; Babel locales for the server.
TAGS = {"en": "en", "zh": "zh-Hans", "ko": "ko"}
BABEL = {"en": "en", "zh": "zh_Hans_CN", "ko": "ko_KR"}
NATIVE_NAMES = {"en": "English", "zh": "中文", "ko": "한국어"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
    return data


def supported(lang: str | None) -> str | None:
    if not lang:
        return None
    base = lang.strip().lower().replace("_", "-").split("-")[0]
    return base if base in LANGUAGES else None


def parse_accept_language(header: str | None) -> list[str]:
    """Language ranges by preference (q values honoured, q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")[:20]):
        pieces = part.strip().split(";")
        tag, quality = pieces[0].strip(), 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The remembered choice first, then the browser's preferences, then English."""
    chosen = supported(cookie)
    if chosen:
        return chosen
    for tag in parse_accept_language(accept_language):
        found = supported(tag)
        if found:
            return found
    return DEFAULT


@dataclass(frozen=True, slots=True)
class Translator:
    lang: str

    @property
    def tag(self) -> str:
        return TAGS[self.lang]

    @property
    def locale(self) -> Locale:
        return Locale.parse(BABEL[self.lang])

    def __call__(self, key: str, count: int | None = None, **params: object) -> str:
        """The message for `key` in this language (English when missing), placeholders filled."""
        if count is not None:
            key = f"{key}.{self.locale.plural_form(count)}"
            params["count"] = count
        text = catalogue(self.lang).get(key)
        if text is None:
            text = catalogue(DEFAULT).get(key) or catalogue(DEFAULT).get(key.rsplit(".", 1)[0] + ".other", key)
        return text.format(**params) if params else text

    def datetime(self, moment: datetime, zone: tzinfo) -> str:
        """A date and time in the zone, the locale's way ("Tue 8 Dec 2026, 12:00", "2026年12月8日 周二 12:00")."""
        return format_datetime(moment.astimezone(zone), self("format.datetime"), tzinfo=zone, locale=self.locale)

    def money(self, minor: int, currency: str) -> str:
        digits = get_currency_precision(currency)
        return format_currency(minor / 10**digits, currency, locale=self.locale)


def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else DEFAULT)
