"""Picture files in an S3-compatible bucket (FLASHSALE_S3_ENDPOINT_URL): one object per content-hash name
under `drops/`, written with its content type and immutable cache header. Writing a name that is there
already (a retry, another node) writes the same bytes. A store that does not answer, or refuses (a wrong
bucket, bad keys), is 503 `media_store_unavailable`: never a 500, never a drop naming a missing object."""
from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncSession

from sale.images.exceptions import MediaStoreUnavailable
from sale.images.store import CACHE_CONTROL, CONTENT_TYPES, DROPS, StoredFile

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger("flashsale.media")
MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
# What a store that cannot be reached (or reached mid-answer) raises through aiobotocore.
_DOWN = (BotoCoreError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class BucketTarget:
    endpoint_url: str
    bucket: str
    region: str
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    timeout_seconds: float = 5.0


class BucketPictures:
    """sale.images.store.PictureStore on an S3-compatible bucket, through aiobotocore."""

    def __init__(self, client: S3Client, bucket: str, exits: AsyncExitStack) -> None:
        self.client = client
        self.bucket = bucket
        self._exits = exits

    @classmethod
    async def open(cls, target: BucketTarget) -> BucketPictures:
        """The client (no request is sent yet): short timeouts, one retry, checksums only where S3
        requires them (stores that only speak the S3 API may not know the newer ones)."""
        config = AioConfig(connect_timeout=target.timeout_seconds, read_timeout=target.timeout_seconds,
                           retries={"max_attempts": 2, "mode": "standard"},
                           s3={"addressing_style": target.addressing_style},
                           request_checksum_calculation="when_required",
                           response_checksum_validation="when_required")
        exits = AsyncExitStack()
        client = await exits.enter_async_context(get_session().create_client(
            "s3", endpoint_url=target.endpoint_url, region_name=target.region,
            aws_access_key_id=target.access_key_id or None,
            aws_secret_access_key=target.secret_access_key or None, config=config))
        return cls(client, target.bucket, exits)

    async def put(self, session: AsyncSession, files: list[StoredFile]) -> None:
        """Every file written before the caller's transaction commits (the caller awaits this inside it)."""
        outcomes = await asyncio.gather(*(self._put(f) for f in files), return_exceptions=True)
        for outcome in outcomes:  # every write finished (none left running), then the first failure
            if isinstance(outcome, BaseException):
                raise outcome

    async def _put(self, stored: StoredFile) -> None:
        try:
            await self.client.put_object(Bucket=self.bucket, Key=key(stored.name), Body=stored.data,
                                         ContentType=stored.content_type, CacheControl=CACHE_CONTROL)
        except ClientError as exc:
            raise self._unavailable("write", _code(exc)) from exc
        except _DOWN as exc:
            raise self._unavailable("write", type(exc).__name__) from exc

    async def get(self, name: str) -> StoredFile | None:
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=key(name))
            async with answer["Body"] as body:
                data = await body.read()
        except ClientError as exc:
            if _code(exc) in MISSING:
                return None
            raise self._unavailable("read", _code(exc)) from exc
        except _DOWN as exc:
            raise self._unavailable("read", type(exc).__name__) from exc
        content_type = answer.get("ContentType") or CONTENT_TYPES[name.rsplit(".", 1)[1]]
        return StoredFile(name, content_type, data)

    async def aclose(self) -> None:
        await self._exits.aclose()

    def _unavailable(self, action: str, reason: str) -> MediaStoreUnavailable:
        # The bucket and the error's code only: never the keys, the request or its signature.
        log.warning("picture store: %s in bucket %r failed: %s", action, self.bucket, reason)
        return MediaStoreUnavailable()


def key(name: str) -> str:
    """The object's key: the same path as its URL's below /media."""
    return f"{DROPS}/{name}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or exc.response.get("ResponseMetadata", {})
               .get("HTTPStatusCode", "unknown"))
