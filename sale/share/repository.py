"""Every share-link query."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from accounts.models import User
from sale.models import Drop, Order
from sale.share.models import ShareLink


class ShareRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_if_absent(self, links: list[ShareLink]) -> None:
        """Idempotent: an order that has a link (live, replaced or revoked) keeps it."""
        if not links:
            return
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [{name: getattr(link, name) for name in ShareLink.model_fields} for link in links]
        await self.session.execute(
            insert(ShareLink).on_conflict_do_nothing(index_elements=["order_id"]), rows)

    async def by_order(self, order_id: str) -> ShareLink | None:
        result = await self.session.execute(select(ShareLink).where(ShareLink.order_id == order_id))
        return result.scalars().first()

    async def by_token(self, token: str) -> ShareLink | None:
        """The link with this token, live or revoked."""
        result = await self.session.execute(select(ShareLink).where(ShareLink.token == token))
        return result.scalars().first()

    async def tokens(self, order_ids: list[str]) -> dict[str, tuple[str, bool]]:
        """order id -> (token, revoked) for the orders that have a link row."""
        result = await self.session.execute(
            select(ShareLink.order_id, ShareLink.token, ShareLink.revoked_at)
            .where(col(ShareLink.order_id).in_(order_ids)))
        return {order_id: (token, revoked is not None) for order_id, token, revoked in result.all()}

    async def revoke(self, order_id: str, now: datetime) -> None:
        await self.session.execute(
            update(ShareLink).where(col(ShareLink.order_id) == order_id, col(ShareLink.revoked_at).is_(None))
            .values(revoked_at=now))

    async def replace_token(self, order_id: str, token: str, now: datetime) -> None:
        """A fresh link for the order; the old token is forgotten, so it is dead (404, credits nothing)."""
        await self.session.execute(
            update(ShareLink).where(col(ShareLink.order_id) == order_id)
            .values(token=token, created_at=now, revoked_at=None))

    async def set_show_name(self, order_id: str, show_name: bool) -> None:
        await self.session.execute(
            update(ShareLink).where(col(ShareLink.order_id) == order_id).values(show_name=show_name))

    async def referred_paid(self, token: str) -> int:
        """Paid orders credited to the link: the owner's own purchases never count, and a revoked
        (or replaced) token matches no live link, so it credits nothing."""
        result = await self.session.execute(
            select(func.count()).select_from(Order)
            .join(ShareLink, col(ShareLink.token) == col(Order.ref_token))
            .where(ShareLink.token == token, col(ShareLink.revoked_at).is_(None), Order.status == "paid",
                   col(Order.user_id) != col(ShareLink.user_id)))
        return int(result.scalar_one())

    async def drop(self, drop_id: int) -> Drop | None:
        return await self.session.get(Drop, drop_id)

    async def display_name(self, user_id: int) -> str | None:
        result = await self.session.execute(select(User.display_name).where(User.id == user_id))
        name = result.scalar_one_or_none()
        return name.strip() or None if name else None

    async def next_drop_of_sku(self, sku: str, not_id: int, now: datetime) -> Drop | None:
        result = await self.session.execute(
            select(Drop).where(Drop.sku == sku, col(Drop.id) != not_id, col(Drop.ends_at) > now)
            .order_by(col(Drop.starts_at), col(Drop.id)).limit(1))
        return result.scalars().first()
