"""Time: one `Clock` read by everything that asks what time it is (Lua scripts get `now` from it as an
argument), so tests step a `ManualClock` instead of sleeping. Aware UTC datetimes for SQL, epoch
milliseconds for Redis."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: they are UTC here."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ms(value: datetime) -> int:
    """Epoch milliseconds of a datetime (naive ones taken as UTC)."""
    return int(as_utc(value).timestamp() * 1000)


def iso_ms(ms_value: int | float | bool | None) -> str | None:
    """ISO 8601 of epoch milliseconds; None (or a missing False) stays None."""
    if ms_value is None or ms_value is False:
        return None
    return datetime.fromtimestamp(ms_value / 1000, UTC).isoformat()


class Clock(Protocol):
    """What time it is, for the domain: wall-clock UTC. (Intervals a process waits out, such as a
    loop's pause or a timeout, stay on the event loop's own monotonic time.)"""

    def now(self) -> datetime: ...

    def now_ms(self) -> int: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock:
    """A clock that moves only when told: tests step pay windows, admissions and sweeps with it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._ms = ms(start) if start is not None else SystemClock().now_ms()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._ms / 1000, UTC)

    def now_ms(self) -> int:
        return self._ms

    def advance(self, seconds: float = 0.0, *, millis: int = 0) -> None:
        self._ms += int(seconds * 1000) + millis

    def set(self, value: datetime) -> None:
        self._ms = int(as_utc(value).timestamp() * 1000)

    def plus(self, delta: timedelta) -> datetime:
        return self.now() + delta


SYSTEM_CLOCK: Clock = SystemClock()


def utcnow() -> datetime:
    """The system clock's now, for defaults that cannot be handed a clock (SQLModel field defaults)."""
    return SYSTEM_CLOCK.now()


def now_ms() -> int:
    """The system clock's epoch milliseconds (kept while callers move to an injected `Clock`)."""
    return SYSTEM_CLOCK.now_ms()
