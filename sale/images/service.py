"""A drop's pictures: check, resize, store (in the database, see store.py), then point the drop at the
new files. Up to MAX_PICTURES in order; the first is `image_url` and the share card's.

Below the drops: it knows files and the drop's row, not listings (the drop admin shows the change)."""
from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sale.exceptions import DropNotFound
from sale.images.exceptions import PictureNotFound, TooManyPictures
from sale.images.processing import process
from sale.images.repository import DropImageRepository
from sale.images.store import MAX_PICTURES, MediaStore, stored_files
from sale.models import Drop


def gallery_of(drop: Drop) -> list[dict[str, Any]]:
    return list(drop.pictures or ([drop.image] if drop.image else []))


class DropImageService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: MediaStore) -> None:
        self.sessions = sessions
        self.store = store

    async def upload(self, drop_id: int, data: bytes) -> Drop:
        """PUT .../image: the first picture replaced (or set); returns the drop as changed (committed)."""
        return await self._change(drop_id, data, lambda gallery, picture: [picture, *gallery[1:]])

    async def add(self, drop_id: int, data: bytes) -> Drop:
        """POST .../images: a picture added at the end (409 too_many_pictures past MAX_PICTURES)."""
        def append(gallery: list[dict[str, Any]], picture: dict[str, Any]) -> list[dict[str, Any]]:
            if len(gallery) >= MAX_PICTURES:
                raise TooManyPictures(f"A drop shows at most {MAX_PICTURES} pictures; delete one first")
            return [*gallery, picture]

        return await self._change(drop_id, data, append)

    async def remove(self, drop_id: int, index: int) -> Drop:
        """DELETE .../images/{n}: the picture at position n (0 is the first) taken out of the gallery."""
        async with self.sessions.begin() as session:
            repo = DropImageRepository(session)
            drop = await repo.get_for_update(drop_id)
            if drop is None:
                raise DropNotFound()
            gallery = gallery_of(drop)
            if not 0 <= index < len(gallery):
                raise PictureNotFound()
            await repo.set_pictures(drop, gallery[:index] + gallery[index + 1:])
        return drop

    async def _change(self, drop_id: int, data: bytes, place: Any) -> Drop:
        # Checked and rendered in memory first, outside the transaction: a refused file stores nothing.
        processed = await asyncio.to_thread(process, data)
        picture, files = stored_files(processed)
        async with self.sessions.begin() as session:
            repo = DropImageRepository(session)
            drop = await repo.get_for_update(drop_id)
            if drop is None:
                raise DropNotFound()
            pictures = place(gallery_of(drop), picture)
            await self.store.put(session, files)
            await repo.set_pictures(drop, pictures)
        return drop
