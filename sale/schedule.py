"""When drops happen: the next weekly slot in the configured zone, computed with zoneinfo."""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_slot(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The wall-clock time `at` on `day` in `zone`, as UTC (DST rules applied for that day)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def next_weekly_slot(now: datetime, weekday: int, at: time, zone: ZoneInfo) -> datetime:
    """The first `weekday` (0 = Monday) at `at` local time strictly after `now`."""
    local_now = now.astimezone(zone)
    days_ahead = (weekday - local_now.weekday()) % 7
    candidate = local_slot(local_now.date() + timedelta(days=days_ahead), at, zone)
    if candidate <= now:
        candidate = local_slot(local_now.date() + timedelta(days=days_ahead + 7), at, zone)
    return candidate


def weekly_slots(now: datetime, weeks: int, weekday: int, at: time, zone: ZoneInfo) -> list[datetime]:
    first = next_weekly_slot(now, weekday, at, zone).astimezone(zone).date()
    return [local_slot(first + timedelta(weeks=i), at, zone) for i in range(weeks)]
