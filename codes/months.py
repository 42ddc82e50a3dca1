"""Calendar months in the store's time zone: an allotment's month and its codes' expiry."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m")


def parse_month(text: str) -> tuple[int, int]:
    match = _MONTH.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2999:
        raise ValueError("month must be YYYY-MM")
    return int(match.group(1)), int(match.group(2))


def shifted(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month_start(year: int, month: int, zone: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=zone).astimezone(UTC)


def expiry(month: str, valid_months: int, zone: ZoneInfo) -> datetime:
    """A month's codes are good through the end of the month plus `valid_months` more."""
    year, number = parse_month(month)
    return month_start(*shifted(year, number, 1 + valid_months), zone)
