from __future__ import annotations

from core.errors import DomainError


class UnsupportedImage(DomainError):
    status, code, title = 415, "unsupported_image", "Not a PNG, JPEG or WebP image"


class ImageTooLarge(DomainError):
    status, code, title = 413, "payload_too_large", "The image is too large"
