"""Share tokens, the signed referral cookie and visitor identity: pure CPU, no I/O.

`ReferralSigner.referral` runs on the purchase hot path, so nothing here may touch Redis or SQL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time

from core.ids import ascii_digits
from core.net import address_block

TOKEN_BYTES = 16  # 128 random bits: nothing about the buyer or the order is derivable from it
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
COOKIE_NAME = "fs_ref"
COOKIE_MAX_AGE = 7 * 24 * 3600
_MAC_BYTES = 16

# Link-preview fetchers of social networks and chat apps (lower case substrings of User-Agent).
CRAWLER_MARKERS = (
    "facebookexternalhit", "facebookcatalog", "meta-externalagent", "twitterbot", "slackbot",
    "slack-imgproxy", "linkedinbot", "whatsapp", "telegrambot", "discordbot", "pinterest", "redditbot",
    "skypeuripreview",
    "mastodon", "bluesky", "cardyb", "embedly", "iframely", "vkshare", "applebot", "googlebot", "bingbot",
    "snapchat", "viber", "line-poker", "kakaotalk-scrap", "micromessenger-preview", "bytespider", "yandex",
    "duckduckbot", "baiduspider", "google-inspectiontool", "qwantify", "outbrain", "nuzzel", "bitlybot",
    "tumblr", "xing-contenttabreceiver", "zoominfobot", "petalbot",
)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(value: str | None) -> bool:
    return value is not None and _TOKEN.fullmatch(value) is not None


def token_hash(token: str) -> str:
    """Names a token in Redis keys and card file names without spelling the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def crawler_of(user_agent: str) -> str | None:
    """The link-preview fetcher a User-Agent names first (its marker), or None for anyone else
    ("TelegramBot (like TwitterBot)" is Telegram's)."""
    agent = user_agent.lower()
    found = [(agent.find(marker), marker) for marker in CRAWLER_MARKERS if marker in agent]
    return min(found)[1] if found else None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class ReferralSigner:
    """The `fs_ref` cookie: "<token>.<issued unix s>.<HMAC>". The issue time is signed too, so the
    7-day credit window holds on the server even if a browser keeps the cookie longer."""

    def __init__(self, secret: bytes, max_age: int = COOKIE_MAX_AGE) -> None:
        # Own key, derived from the app secret: a MAC made for something else never verifies here.
        self._key = hashlib.sha256(b"flashsale/share/referral-cookie\x00" + secret).digest()
        self._visitor_key = hashlib.sha256(b"flashsale/share/visitor\x00" + secret).digest()
        self.max_age = max_age

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES])

    def sign(self, token: str, now: float | None = None) -> str:
        payload = f"{token}.{int(now if now is not None else time.time())}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, cookie: str | None, now: float | None = None) -> str | None:
        """The token of a genuine, unexpired cookie; None for anything else (forged, tampered, old, junk)."""
        # Header bytes arrive as latin-1 text: anything non-ASCII is junk (compare_digest refuses it).
        if not cookie or len(cookie) > 80 or not cookie.isascii():
            return None
        token, _, rest = cookie.partition(".")
        issued, _, mac = rest.partition(".")
        if not looks_like_token(token) or not ascii_digits(issued, 12):
            return None
        if not hmac.compare_digest(mac, self._mac(f"{token}.{issued}")):
            return None
        age = (now if now is not None else time.time()) - int(issued)
        return token if -300 <= age <= self.max_age else None

    def referral(self, ref: str | None, cookie: str | None) -> str:
        """Body `ref` first (when it has a token's shape), else a valid cookie's token, else ""."""
        if looks_like_token(ref):
            assert ref is not None
            return ref
        return self.verify(cookie) or ""

    def visitor(self, client: str, crawler: str | None) -> str:
        """A keyed hash of the client's address block (and, for a link-preview fetcher, which one):
        dedupes views without storing the address. The User-Agent is not part of it: a script
        changes it for free."""
        who = f"{address_block(client)}\n{crawler or ''}"
        return _b64(hmac.new(self._visitor_key, who.encode(), hashlib.sha256).digest()[:12])
