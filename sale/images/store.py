"""Stored picture files under content-hash names, where every node reads them: in the database (identical
uploads are one row) or, when one is configured, in an S3-compatible bucket (sale/images/s3.py); read
through a small in-process cache. Files an older version wrote to a node's disk are still served."""
from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from sale.images.processing import Processed
from sale.images.repository import MediaRepository

MEDIA_PATH = "/media"  # where the web app serves the pictures
DROPS = "drops"
MAX_PICTURES = 8
_NAME = re.compile(r"[0-9a-f]{32}\.(webp|jpg)")
CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}
CACHE_BYTES = 64 * 1024 * 1024
CACHE_CONTROL = "public, max-age=31536000, immutable"  # names never change: cached for good


@dataclass(frozen=True, slots=True)
class StoredFile:
    name: str
    content_type: str
    data: bytes


def stored_files(processed: Processed) -> tuple[dict[str, Any], list[StoredFile]]:
    """What the drop keeps of a picture (file names, sizes, source format) and the files to store."""
    files, variants = [], []
    for variant in processed.variants:
        webp, jpeg = variant.name("webp"), variant.name("jpeg")
        files += [StoredFile(webp, CONTENT_TYPES["webp"], variant.webp), StoredFile(jpeg, CONTENT_TYPES["jpg"],
                                                                                   variant.jpeg)]
        variants.append({"width": variant.width, "height": variant.height, "webp": webp, "jpeg": jpeg})
    return ({"format": processed.source_format, "width": processed.width, "height": processed.height,
             "variants": variants}, files)


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None


class PictureStore(Protocol):
    """Where picture files are written and read back by name. A name is its content's hash: writing
    one that is there already (a retry, another node) changes nothing."""

    async def put(self, session: AsyncSession, files: list[StoredFile]) -> None:
        """Stores the files before `session`'s transaction commits (in it, or beside it: then a failed
        transaction leaves unreferenced files at worst, never a drop naming a missing one)."""

    async def get(self, name: str) -> StoredFile | None:
        """The file of that (valid) name, or None."""

    async def aclose(self) -> None:
        """Lets go of connections (at shutdown)."""


class DatabasePictures:
    """Picture files as rows of `media_files`, written in the caller's transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | None) -> None:
        self.sessions = sessions

    async def put(self, session: AsyncSession, files: list[StoredFile]) -> None:
        await MediaRepository(session).insert_missing([(f.name, f.content_type, f.data) for f in files])

    async def get(self, name: str) -> StoredFile | None:
        if self.sessions is None:
            return None
        async with self.sessions() as session:
            row = await MediaRepository(session).get(name)
        return StoredFile(name, row[0], row[1]) if row is not None else None

    async def aclose(self) -> None:
        return None


class MediaStore:
    """New files go to `store`; reads try the cache, `store`, then `older` (the database, for pictures
    uploaded before a bucket was configured), then an older version's files on this node's disk."""

    def __init__(self, store: PictureStore, root: Path, *, older: PictureStore | None = None,
                 cache_bytes: int = CACHE_BYTES) -> None:
        self.store = store
        self.older = older
        self.root = root
        self.drops = root / DROPS  # files of older versions (read only)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, StoredFile] = OrderedDict()
        self._cached = 0

    async def put(self, session: AsyncSession, files: list[StoredFile]) -> None:
        """Stores the files before the caller's transaction commits (a name present already is the same bytes)."""
        await self.store.put(session, files)

    async def read(self, name: str) -> StoredFile | None:
        """A stored file by name (the cache, the store, the older store, then an older version's disk)."""
        if not valid_name(name):
            return None
        found = self._cache.get(name)
        if found is not None:
            self._cache.move_to_end(name)
            return found
        found = await self.store.get(name)
        if found is None and self.older is not None:
            found = await self.older.get(name)
        if found is None:
            path = self.drops / name
            data = await asyncio.to_thread(_read_file, path)
            if data is None:
                return None
            found = StoredFile(name, CONTENT_TYPES[name.rsplit(".", 1)[1]], data)
        self._remember(found)
        return found

    async def aclose(self) -> None:
        await self.store.aclose()

    def _remember(self, stored: StoredFile) -> None:
        if len(stored.data) > self.cache_bytes // 8:
            return
        self._cache[stored.name] = stored
        self._cached += len(stored.data)
        while self._cached > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached -= len(old.data)

    @staticmethod
    def card_picture(image: dict[str, Any] | None, max_width: int = 800) -> str | None:
        """File name of the stored JPEG closest to `max_width` without passing it (drawn on share cards)."""
        if not image or not image.get("variants"):
            return None
        fitting = [v for v in image["variants"] if v["width"] <= max_width] or image["variants"][:1]
        return str(fitting[-1]["jpeg"])


def _read_file(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def variant_url(name: str) -> str:
    """Same-origin path of a stored file."""
    return f"{MEDIA_PATH}/{DROPS}/{name}"


def _sizes(image: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"width": v["width"], "height": v["height"], "webp": variant_url(v["webp"]), "jpeg": variant_url(v["jpeg"])}
            for v in image["variants"]]


def _main(image: dict[str, Any]) -> dict[str, Any]:
    variants = image["variants"]
    return dict(([v for v in variants if v["width"] <= 800] or variants)[-1])


def image_fields(image: dict[str, Any] | None, base_url: str,
                 pictures: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The drop's `image_url` (absolute, the first picture's 800 px JPEG or the closest below), `images`
    (every picture in order: its main size's absolute URL and every size, same-origin paths, for srcset)."""
    gallery = [p for p in (pictures or ([image] if image else [])) if p and p.get("variants")]
    if not gallery:
        return {"image_url": None, "images": []}
    return {
        "image_url": base_url + variant_url(_main(gallery[0])["jpeg"]),
        "images": [{"url": base_url + variant_url(_main(p)["jpeg"]), "width": p["width"], "height": p["height"],
                    "sizes": _sizes(p)} for p in gallery],
    }


async def open_media_store(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> MediaStore:
    """The bucket when FLASHSALE_S3_ENDPOINT_URL is set (the database still read for pictures stored
    before it was), else the database. Closed with `MediaStore.aclose()` at shutdown."""
    database = DatabasePictures(sessions)
    if not settings.s3_endpoint_url:
        return MediaStore(database, settings.media_root)
    # Imported only with a bucket: aiobotocore and aiohttp are a tenth of every process's start-up.
    from sale.images.s3 import BucketPictures, BucketTarget

    bucket = await BucketPictures.open(BucketTarget(
        settings.s3_endpoint_url, settings.s3_bucket, settings.s3_region, settings.s3_access_key_id,
        settings.s3_secret_access_key.get_secret_value(), settings.s3_addressing_style,
        settings.s3_timeout_seconds))
    return MediaStore(bucket, settings.media_root, older=database)
