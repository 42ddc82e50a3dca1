"""A drop's pictures: check, resize, store (in the database, see store.py), then point the drop at the
new files. Up to MAX_PICTURES in order; the first is `image_url` and the share card's.

Below the drops: it knows files and the drop's row, not listings (the drop admin shows the change)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.exceptions import DropNotFound
from sale.images.exceptions import PictureNotFound, TooManyPictures
from sale.images.processing import process
from sale.images.repository import DropImageRepository
from sale.images.store import MAX_PICTURES, MediaStore, stored_files
from sale.models import Drop

# Called inside the change's transaction with the gallery before and after (each picture's stored sizes).
Gallery = list[dict[str, Any]]
ImageChanged = Callable[[AsyncSession, Gallery, Gallery], Awaitable[None]]
Place = Callable[[Gallery, dict[str, Any]], Gallery]


def gallery_of(drop: Drop) -> list[dict[str, Any]]:
    return list(drop.pictures or ([drop.image] if drop.image else []))


class DropImageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: MediaStore) -> None:
        self.sessions = sessions
        self.store = store

    async def upload(self, drop_id: int, data: bytes, changed: ImageChanged | None = None) -> Drop:
        """PUT .../image: the first picture replaced (or set); returns the drop as changed (committed).
        `changed` runs in the same transaction, after the change (the operator's audit entry)."""
        return await self._change(drop_id, data, lambda gallery, picture: [picture, *gallery[1:]], changed)

    async def add(self, drop_id: int, data: bytes, changed: ImageChanged | None = None) -> Drop:
        """POST .../images: a picture added at the end (409 too_many_pictures past MAX_PICTURES)."""
        def append(gallery: Gallery, picture: dict[str, Any]) -> Gallery:
            if len(gallery) >= MAX_PICTURES:
                raise TooManyPictures(f"A drop shows at most {MAX_PICTURES} pictures; delete one first")
            return [*gallery, picture]

        return await self._change(drop_id, data, append, changed)

    async def remove(self, drop_id: int, index: int, changed: ImageChanged | None = None) -> Drop:
        """DELETE .../images/{n}: the picture at position n (0 is the first) taken out of the gallery."""
        async with self.sessions.begin() as session:
            repo = DropImageRepository(session)
            drop = await repo.get_for_update(drop_id)
            if drop is None:
                raise DropNotFound()
            gallery = gallery_of(drop)
            if not 0 <= index < len(gallery):
                raise PictureNotFound()
            after = gallery[:index] + gallery[index + 1:]
            await repo.set_pictures(drop, after)
            if changed is not None:
                await changed(session, gallery, after)
        return drop

    async def _change(self, drop_id: int, data: bytes, place: Place, changed: ImageChanged | None) -> Drop:
        # Checked and rendered in memory first, outside the transaction: a refused file stores nothing.
        processed = await asyncio.to_thread(process, data)
        picture, files = stored_files(processed)
        async with self.sessions.begin() as session:
            repo = DropImageRepository(session)
            drop = await repo.get_for_update(drop_id)
            if drop is None:
                raise DropNotFound()
            before = gallery_of(drop)
            pictures = place(before, picture)
            await self.store.put(session, files)
            await repo.set_pictures(drop, pictures)
            if changed is not None:
                await changed(session, before, pictures)
        return drop
