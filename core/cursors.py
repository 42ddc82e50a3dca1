"""Opaque keyset cursors for paged lists (`?cursor=`): the sort key of the last row sent, base64url.

A client hands back what it was given; anything else (edited, truncated, from another list) is a 422,
never a 500 or a silently wrong page."""
from __future__ import annotations

import base64
import binascii

from core.errors import ValidationFailed

_SEP = "\x1f"
MAX_CURSOR_LENGTH = 400


class BadCursor(ValidationFailed):
    title = "Invalid cursor"

    def __init__(self) -> None:
        super().__init__("cursor: not one this list gave out")


def encode_cursor(kind: str, *parts: str | int) -> str:
    text = _SEP.join([kind, *(str(p) for p in parts)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, count: int) -> list[str]:
    """The `count` parts of a cursor of this `kind`; raises BadCursor for anything else."""
    if len(cursor) > MAX_CURSOR_LENGTH or not cursor.isascii():
        raise BadCursor()
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor() from None
    parts = text.split(_SEP)
    if len(parts) != count + 1 or parts[0] != kind:
        raise BadCursor()
    return parts[1:]


def cursor_int(text: str) -> int:
    """A non-negative integer part of a cursor (ASCII digits only)."""
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        raise BadCursor()
    return int(text)
