from __future__ import annotations

from core.errors import DomainError


class UnsupportedImage(DomainError):
    status, code, title = 415, "unsupported_image", "Not a PNG, JPEG or WebP image"


class ImageTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "The image is too large"


class TooManyPictures(DomainError):
    status, code, title = 409, "too_many_pictures", "This drop has as many pictures as it may show"


class PictureNotFound(DomainError):
    status, code, title = 404, "picture_not_found", "This drop has no picture at that position"


class MediaStoreUnavailable(DomainError):
    """The S3-compatible store that keeps the pictures does not answer, or refuses (a wrong bucket, bad
    keys): nothing is changed; the same upload may be sent again."""

    status, code, title = 503, "media_store_unavailable", "The picture store is unavailable"

    def __init__(self, detail: str | None = None, retry_after: int = 5) -> None:
        super().__init__(detail or "The store that keeps the pictures does not answer; retry in a moment.",
                         headers={"Retry-After": str(max(1, retry_after))})
