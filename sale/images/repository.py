from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from sale.models import Drop, MediaFile


class DropImageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, drop_id: int) -> Drop | None:
        return await self.session.get(Drop, drop_id, with_for_update=True)

    async def set_pictures(self, drop: Drop, pictures: list[dict[str, Any]]) -> None:
        """The gallery in order; `image` (the card's and `image_url`'s picture) is its first."""
        drop.pictures = pictures or None
        drop.image = pictures[0] if pictures else None
        self.session.add(drop)
        await self.session.flush()


class MediaRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_missing(self, files: list[tuple[str, str, bytes]]) -> None:
        if not files:
            return
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table: sa.Table = MediaFile.__table__  # type: ignore[attr-defined]
        now = utcnow()
        stmt = insert(table).values([{"name": n, "content_type": t, "data": d, "created_at": now}
                                     for n, t, d in files]).on_conflict_do_nothing(index_elements=["name"])
        await self.session.execute(stmt)

    async def get(self, name: str) -> tuple[str, bytes] | None:
        table: sa.Table = MediaFile.__table__  # type: ignore[attr-defined]
        row = (await self.session.execute(sa.select(table.c.content_type, table.c.data)
                                          .where(table.c.name == name))).first()
        return (str(row[0]), bytes(row[1])) if row is not None else None
