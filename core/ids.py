"""Numeric ids from text (paths, tokens, cookies): ASCII digits only.

`str.isdigit()` is true for '³' and '٣', and `int()` reads Arabic-Indic digits as 3: an id parser
built on them answers 500 for one and the wrong row for the other. Every id crossing the edge goes
through here instead.
"""
from __future__ import annotations

import re

MAX_ID = 2_147_483_647  # ids are 32-bit columns: anything larger cannot name a row
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(text: str, *, max_value: int = MAX_ID) -> int | None:
    """The id `text` spells in ASCII digits (1..max_value), else None."""
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= max_value else None


def ascii_digits(text: str, max_length: int) -> bool:
    """True when `text` is 1..max_length ASCII digits (a timestamp, a counter)."""
    return 0 < len(text) <= max_length and _ASCII_DIGITS.fullmatch(text) is not None
