"""Operator tasks run from the console: weekly schedules."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import make_engine, make_sessionmaker
from core.settings import Settings
from sale.drops import new_drop
from sale.models import Drop
from sale.repository import DropRepository
from sale.schedule import weekly_slots
from sale.schemas import DropCreate


async def schedule_weekly(settings: Settings, *, sku: str, name: str, price_cents: int, stock: int, currency: str,
                          weeks: int, priority_minutes: int, per_user_limit: int,
                          duration_minutes: int) -> list[Drop]:
    now = datetime.now(UTC)
    slots = weekly_slots(now, weeks, settings.weekday_index, settings.drop_time, settings.zone)
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            repo = DropRepository(session)
            created = []
            for starts in slots:
                body = DropCreate(sku=sku, name=name, price_cents=price_cents, currency=currency, stock=stock,
                                  starts_at=starts, ends_at=starts + timedelta(minutes=duration_minutes),
                                  priority_minutes=priority_minutes, per_user_limit=per_user_limit)
                created.append(await repo.add(new_drop(body, settings, now)))
            return created
    finally:
        await engine.dispose()
