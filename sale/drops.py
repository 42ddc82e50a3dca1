"""Drops for operators and shoppers: create, list, show, and the operator's live stats."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc
from core.runtime import Runtime
from core.settings import Settings
from sale.exceptions import BadDrop, DropNotFound, client_code
from sale.images.store import image_fields
from sale.inventory import Inventory
from sale.loader import DropLoader
from sale.models import Drop
from sale.repository import DropRepository
from sale.schedule import next_weekly_slot
from sale.schemas import DropCreate, DropOut, Phase, StatsOut


def phase_of(drop: Drop, remaining: int, now: datetime) -> Phase:
    if now < as_utc(drop.priority_starts_at):
        return "upcoming"
    if now >= as_utc(drop.ends_at):
        return "ended"
    if remaining <= 0:
        return "sold_out"
    return "priority" if now < as_utc(drop.starts_at) else "open"


def drop_out(drop: Drop, remaining: int, now: datetime, base_url: str = "") -> DropOut:
    assert drop.id is not None
    starts, priority = as_utc(drop.starts_at), as_utc(drop.priority_starts_at)
    return DropOut(id=drop.id, sku=drop.sku, name=drop.name, price_cents=drop.price_cents, currency=drop.currency,
                   stock=drop.stock, starts_at=starts, ends_at=as_utc(drop.ends_at), priority_starts_at=priority,
                   priority_minutes=int((starts - priority).total_seconds() // 60),
                   per_user_limit=drop.per_user_limit, pay_window_seconds=drop.pay_window_seconds,
                   remaining=remaining, phase=phase_of(drop, remaining, now),
                   **image_fields(drop.image, base_url))


def new_drop(body: DropCreate, settings: Settings, now: datetime) -> Drop:
    starts = body.starts_at.astimezone(UTC) if body.starts_at else next_weekly_slot(
        now, settings.weekday_index, settings.drop_time, settings.zone)
    ends = body.ends_at.astimezone(UTC) if body.ends_at else starts + timedelta(hours=1)
    if ends <= starts:
        raise BadDrop("ends_at must be after starts_at")
    if ends <= now:
        raise BadDrop("ends_at is in the past")
    return Drop(sku=body.sku, name=body.name, price_cents=body.price_cents, currency=body.currency,
                stock=body.stock, starts_at=starts, ends_at=ends,
                priority_starts_at=starts - timedelta(minutes=body.priority_minutes),
                per_user_limit=body.per_user_limit, pay_window_seconds=body.pay_window_seconds)


class DropAdmin:
    def __init__(self, runtime: Runtime, inventory: Inventory, loader: DropLoader) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.inventory = inventory
        self.loader = loader

    async def create_drop(self, session: AsyncSession, body: DropCreate) -> DropOut:
        now = datetime.now(UTC)
        drop = await DropRepository(session).add(new_drop(body, self.settings, now))
        # Redis learns of the drop from the database once committed (first use, or the sweeper's check).
        return drop_out(drop, drop.stock, now, self.settings.base_url)

    async def _remaining(self, drops: list[Drop]) -> list[int]:
        counters = await self.inventory.counters([d.id for d in drops if d.id is not None])
        out = []
        for drop, inv in zip(drops, counters, strict=True):
            if b"remaining" in inv:
                out.append(int(inv[b"remaining"]))
            else:
                out.append(await self.loader.load(drop))
        return out

    async def list_drops(self, session: AsyncSession) -> list[DropOut]:
        now = datetime.now(UTC)
        drops = await DropRepository(session).not_ended(now)
        return [drop_out(d, r, now, self.settings.base_url)
                for d, r in zip(drops, await self._remaining(drops), strict=True)]

    async def get_drop(self, session: AsyncSession, drop_id: int) -> DropOut:
        drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        return drop_out(drop, (await self._remaining([drop]))[0], datetime.now(UTC), self.settings.base_url)

    async def stats(self, session: AsyncSession, drop_id: int) -> StatsOut:
        drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        inv, rejected, orders = await self.inventory.stats(drop_id)
        if b"remaining" not in inv:
            await self.loader.load(drop)
            inv, rejected, orders = await self.inventory.stats(drop_id)
        counts: Counter[str] = Counter()
        for code, count in rejected.items():
            counts[client_code(code.decode())] += int(count)

        def num(name: str) -> int:
            return int(inv.get(name.encode(), 0))

        # Derived, not counted on the purchase path: every unit is remaining, reserved or paid, and
        # every attempt made an order or a refusal.
        reserved = num("stock") - num("remaining") - num("paid")
        sold_out_ms = inv.get(b"sold_out_at")
        return StatsOut(drop_id=drop_id, stock=num("stock"), remaining=num("remaining"), reserved=reserved,
                        paid=num("paid"), expired=num("expired"), cancelled=num("cancelled"),
                        attempts=orders + sum(counts.values()), rejected=dict(counts),
                        sold_out_at=datetime.fromtimestamp(int(sold_out_ms) / 1000, UTC) if sold_out_ms else None,
                        phase=phase_of(drop, num("remaining"), datetime.now(UTC)))

    async def open_events(self, drop_id: int) -> AsyncIterator[bytes]:
        """The dashboard's event stream of a drop; raises drop_not_found before it starts."""
        await self.loader.load_by_id(drop_id)
        return self.stats_events(drop_id)

    async def stats_events(self, drop_id: int, interval: float = 1.0) -> AsyncIterator[bytes]:
        """Server-Sent Events for the operator's dashboard: the drop's stats every `interval` seconds."""
        while True:
            async with self.runtime.sessions() as session:
                stats = await self.stats(session, drop_id)
            yield b"data: " + stats.model_dump_json().encode() + b"\n\n"
            await asyncio.sleep(interval)
