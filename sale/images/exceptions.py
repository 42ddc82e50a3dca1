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
