"""What the F-code and share-link features plug into the sale: small protocols, filled at start-up."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession


class FcodeGate(Protocol):
    """Takes an F-code with a short lease before the unit, then confirms or releases it.

    The code's keys live in their own hash slot, so this cannot be one script with the purchase;
    a crash between the steps only lets the lease run out (no code or unit is lost).
    """

    async def lease(self, code: str, user_id: int, drop_id: int, sku: str, client: str) -> str:
        """Returns the code's lookup hash, leased to this buyer; raises fcode_invalid or rate_limited."""
        ...

    async def confirm(self, code_hash: str, order_id: str) -> None: ...

    async def release_lease(self, code_hash: str) -> None: ...

    async def order_released(self, code_hash: str, order_id: str) -> None:
        """The order expired or was cancelled: the code is available again until its own expiry."""
        ...

    async def order_paid(self, code_hash: str, order_id: str, buyer: int) -> None:
        """The order was paid: the code is redeemed (its live state; the record follows off the request)."""
        ...



class PaidRecorder(Protocol):
    """What the order sink calls, inside its transaction and before it acknowledges, with the paid
    orders of a batch: at least once per paid order, so it must be idempotent."""

    async def record_paid(self, session: AsyncSession, orders: Sequence[dict[str, Any]]) -> None: ...


class ShareLinks(Protocol):
    def referral(self, ref: str | None, cookie: str | None) -> str:
        """The share token a purchase is credited to ("" for none): `ref` first, else the signed cookie."""
        ...

    def mint_token(self) -> str:
        """A fresh unguessable token for a paid order's link (its row is written by the sink)."""
        ...

    def url(self, token: str) -> str: ...

    async def hold_until_recorded(self, order: dict[str, Any]) -> None:
        """Keeps the just-paid order's page servable from Redis until the sink writes its row."""
        ...

    async def links(self, session: AsyncSession, order_ids: list[str]) -> dict[str, str | None]:
        """The URL of each order's link that has a row: None when revoked; orders without a row are absent."""
        ...
