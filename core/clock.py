"""Time helpers: aware UTC datetimes for SQL, epoch milliseconds for Redis."""
from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: they are UTC here."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(value: datetime) -> int:
    """Epoch milliseconds of a datetime (naive ones taken as UTC)."""
    return int(as_utc(value).timestamp() * 1000)


def iso_ms(ms_value: int | float | bool | None) -> str | None:
    """ISO 8601 of epoch milliseconds; None (or a missing False) stays None."""
    if ms_value is None or ms_value is False:
        return None
    return datetime.fromtimestamp(ms_value / 1000, UTC).isoformat()
