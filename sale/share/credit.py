"""Referral credit. A visit sets the signed `fs_ref` cookie unless the browser already holds a valid one,
so the first link a visitor opened keeps the credit for 7 days (later links do not take it over).
A purchase body's `ref` wins over the cookie (`ReferralSigner.referral`, on the purchase path).
Credit is decided when counting, in SQL: only paid orders of other buyers, through a live (not
revoked, not replaced) link."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from sale.share.referral import ReferralSigner
from sale.share.repository import ShareRepository


class ReferralCredit:
    # The cookie's times stay on the signer's own (system) clock: the purchase path verifies it there.
    def __init__(self, signer: ReferralSigner) -> None:
        self.signer = signer

    def cookie(self, token: str, crawler: str | None, held: str | None) -> str | None:
        """The cookie a visit of `token` sets; None keeps what the browser has (first referrer wins)
        and gives a link-preview fetcher none."""
        if crawler is not None or self.signer.verify(held) is not None:
            return None
        return self.signer.sign(token)

    async def referred(self, session: AsyncSession, token: str) -> int:
        """Paid orders of other buyers credited to the link."""
        return await ShareRepository(session).referred_paid(token)
