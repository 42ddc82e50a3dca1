"""Uploading a drop's picture: check, resize, store, then point the drop at the new files."""
from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from sale.drops import DropAdmin
from sale.exceptions import DropNotFound
from sale.images.processing import process
from sale.images.repository import DropImageRepository
from sale.images.store import MediaStore
from sale.schemas import DropOut


class DropImageService:
    def __init__(self, store: MediaStore, drops: DropAdmin) -> None:
        self.store = store
        self.drops = drops

    async def upload(self, session: AsyncSession, drop_id: int, data: bytes) -> DropOut:
        repo = DropImageRepository(session)
        drop = await repo.get_for_update(drop_id)
        if drop is None:
            raise DropNotFound()
        # Everything is checked and rendered in memory first: a refused file leaves nothing on disk.
        processed = await asyncio.to_thread(process, data)
        image = await asyncio.to_thread(self.store.save, processed)
        await repo.set_image(drop, image)
        return await self.drops.get_drop(session, drop_id)
