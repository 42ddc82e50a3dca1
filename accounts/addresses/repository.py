from __future__ import annotations

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from accounts.addresses.models import Address


class AddressRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, address: Address) -> Address:
        self.session.add(address)
        await self.session.flush()
        return address

    async def for_user(self, user_id: int) -> list[Address]:
        result = await self.session.execute(
            select(Address).where(Address.user_id == user_id).order_by(col(Address.id)))
        return list(result.scalars().all())

    async def page(self, after_id: int, limit: int) -> list[Address]:
        """Every account's addresses in id order, `limit` from after `after_id` (the start-up copy)."""
        result = await self.session.execute(
            select(Address).where(col(Address.id) > after_id).order_by(col(Address.id)).limit(limit))
        return list(result.scalars().all())

    async def count(self, user_id: int) -> int:
        result = await self.session.execute(select(func.count()).where(Address.user_id == user_id))
        return int(result.scalar_one())

    async def get(self, user_id: int, address_id: int) -> Address | None:
        result = await self.session.execute(
            select(Address).where(Address.id == address_id, Address.user_id == user_id))
        return result.scalars().first()

    async def delete(self, user_id: int, address_id: int) -> bool:
        result = await self.session.execute(
            delete(Address).where(col(Address.id) == address_id, col(Address.user_id) == user_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
