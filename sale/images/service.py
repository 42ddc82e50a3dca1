"""Uploading a drop's picture: check, resize, store, then point the drop at the new files.

Below the drops: it knows files and the drop's row, not listings (the drop admin shows the change)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.exceptions import DropNotFound
from sale.images.processing import process
from sale.images.repository import DropImageRepository
from sale.images.store import MediaStore
from sale.models import Drop

# Called inside the upload's transaction with the picture before and after (the stored variants).
ImageChanged = Callable[[AsyncSession, dict[str, Any] | None, dict[str, Any]], Awaitable[None]]


class DropImageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: MediaStore) -> None:
        self.sessions = sessions
        self.store = store

    async def upload(self, drop_id: int, data: bytes, changed: ImageChanged | None = None) -> Drop:
        """Stores the picture and sets it on the drop (committed); returns the drop as changed.
        `changed` runs in the same transaction, after the change (the operator's audit entry)."""
        async with self.sessions.begin() as session:
            repo = DropImageRepository(session)
            drop = await repo.get_for_update(drop_id)
            if drop is None:
                raise DropNotFound()
            # Everything is checked and rendered in memory first: a refused file leaves nothing on disk.
            processed = await asyncio.to_thread(process, data)
            image = await asyncio.to_thread(self.store.save, processed)
            before = drop.image
            await repo.set_image(drop, image)
            if changed is not None:
                await changed(session, before, image)
        return drop
