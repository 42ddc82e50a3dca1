from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sale.models import Drop


class DropImageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, drop_id: int) -> Drop | None:
        return await self.session.get(Drop, drop_id, with_for_update=True)

    async def set_image(self, drop: Drop, image: dict[str, Any]) -> None:
        drop.image = image
        self.session.add(drop)
        await self.session.flush()
