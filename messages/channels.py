"""What a claimed delivery becomes on each channel: the words in the recipient's language, the link
back to the store, and (email) the unsubscribe link."""
from __future__ import annotations

import hashlib
import hmac

from core.clock import Clock
from messages.mail import Letter, SmtpMailer
from messages.repository import Claimed
from messages.texts import Words, render


def link_of(base_url: str, kind: str, drop_id: int | None, order_id: str | None) -> str:
    if kind == "fcode_given":
        return f"{base_url}/fcodes"
    if kind == "payment_received" or order_id:
        return f"{base_url}/orders"
    return f"{base_url}/drops/{drop_id}" if drop_id else base_url


def words_of(item: Claimed, base_url: str) -> Words:
    link = link_of(base_url, item.kind, item.drop_id, item.order_id)
    return render(item.kind, {**item.params, "link": link}, item.language)


class UnsubscribeLinks:
    """A signed link per account (its id and an HMAC): following it turns that account's email off."""

    def __init__(self, secret: bytes, base_url: str) -> None:
        self._key = hashlib.sha256(b"flashsale-unsubscribe:" + secret).digest()
        self.base_url = base_url

    def token(self, user_id: int) -> str:
        mac = hmac.new(self._key, str(user_id).encode(), hashlib.sha256).hexdigest()[:32]
        return f"{user_id}.{mac}"

    def link(self, user_id: int) -> str:
        return f"{self.base_url}/unsubscribe?t={self.token(user_id)}"

    def user_of(self, token: str) -> int | None:
        user = token.partition(".")[0]
        if not user.isdigit() or len(user) > 18:
            return None
        return int(user) if hmac.compare_digest(self.token(int(user)), token) else None


class EmailTransport:
    def __init__(self, mailer: SmtpMailer, base_url: str, unsubscribe: UnsubscribeLinks, clock: Clock) -> None:
        self.mailer = mailer
        self.base_url = base_url
        self.unsubscribe = unsubscribe
        self.clock = clock

    async def deliver(self, item: Claimed) -> None:
        await self.mailer.send(Letter(
            to=item.email, to_name=item.name, words=words_of(item, self.base_url), language=item.language,
            link=link_of(self.base_url, item.kind, item.drop_id, item.order_id),
            unsubscribe=self.unsubscribe.link(item.user_id), message_key=item.key, sent_at=self.clock.now()))
