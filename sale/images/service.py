"""Uploading a drop's picture: check, resize, store, then point the drop at the new files."""
from __future__ import annotations

import asyncio
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from sale.exceptions import DropNotFound
from sale.images.processing import process
from sale.images.repository import DropImageRepository
from sale.images.store import MediaStore
from sale.models import Drop
from sale.schemas import DropOut


class Drops(Protocol):
    """What an upload needs of the drops' service (sale.drops.DropAdmin): images sit below drops."""

    async def changed(self, drop: Drop) -> None: ...

    async def get_drop(self, drop_id: int) -> DropOut: ...


class DropImageService:
    def __init__(self, store: MediaStore, drops: Drops) -> None:
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
        await self.drops.changed(drop)  # every worker's listings show the picture at once
        return await self.drops.get_drop(drop_id)
