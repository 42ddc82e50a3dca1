"""Operator tasks run from the console: weekly schedules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from audit.repository import AuditRepository
from audit.schemas import CONSOLE, Change
from core.db import make_engine, make_sessionmaker
from core.settings import Settings
from sale.drops import drop_snapshot, new_drop
from sale.models import Drop
from sale.repository import DropRepository
from sale.schedule import weekly_slots
from sale.schemas import DropCreate


@dataclass(frozen=True, slots=True)
class WeeklyDrops:
    """The next `weeks` drops of one SKU, each at the configured weekday and time."""

    sku: str
    name: str
    price_cents: int
    stock: int
    currency: str = "CNY"
    weeks: int = 4
    priority_minutes: int = 0
    per_user_limit: int = 1
    duration_minutes: int = 60


async def schedule_weekly(settings: Settings, plan: WeeklyDrops) -> list[Drop]:
    now = datetime.now(UTC)
    slots = weekly_slots(now, plan.weeks, settings.weekday_index, settings.drop_time, settings.zone)
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            repo = DropRepository(session)
            created = []
            for starts in slots:
                body = DropCreate(sku=plan.sku, name=plan.name, price_cents=plan.price_cents, currency=plan.currency,
                                  stock=plan.stock, starts_at=starts,
                                  ends_at=starts + timedelta(minutes=plan.duration_minutes),
                                  priority_minutes=plan.priority_minutes, per_user_limit=plan.per_user_limit)
                drop = await repo.add(new_drop(body, settings, now))
                await AuditRepository(session).record(CONSOLE, Change("drop.create", "drop", str(drop.id),
                                                                      after=drop_snapshot(drop)), now)
                created.append(drop)
            return created
    finally:
        await engine.dispose()
