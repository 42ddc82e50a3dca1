"""What the F-code and share-link features plug into the sale: small protocols, filled at start-up."""
from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from sale.schemas import QueueCounts


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

    async def order_paid(self, session: AsyncSession, code_hash: str, order_id: str) -> None: ...


class QueueCounter(Protocol):
    async def counts(self, drop_id: int) -> QueueCounts | None:
        """The waiting room's counts (None: the drop has none)."""
        ...


class ShareLinks(Protocol):
    def referral(self, ref: str | None, cookie: str | None) -> str:
        """The share token a purchase is credited to ("" for none): `ref` first, else the signed cookie."""
        ...

    async def order_paid(self, session: AsyncSession, order: dict[str, Any]) -> None: ...

    async def urls(self, session: AsyncSession, order_ids: list[str]) -> dict[str, str]: ...
