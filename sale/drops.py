"""Drops for operators and shoppers: create, list, show, and the operator's live stats."""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from audit.repository import AuditRepository
from audit.schemas import Actor, Change, JSONValue, Snapshot
from core.clock import Clock, as_utc
from core.db import DATABASE_DOWN
from core.settings import Settings
from sale.catalog import DropCatalog
from sale.draw.seed import new_draw
from sale.exceptions import BadDrop, DropNotFound, client_code
from sale.images.service import DropImageService, Gallery, ImageChanged
from sale.images.store import image_fields
from sale.inventory import Inventory, LiveDrop
from sale.live_order import LiveOrder
from sale.loader import DropLoader
from sale.models import Drop
from sale.queue.service import QueueService
from sale.repository import DropRepository
from sale.schedule import next_weekly_slot
from sale.schemas import DropCreate, DropOut, Phase, StatsOut, VariantStats, WaitlistCounts

log = logging.getLogger("flashsale.drops")


def phase_of(drop: Drop, remaining: int, now: datetime) -> Phase:
    if now >= as_utc(drop.ends_at):  # first: a drop cancelled before it opened has ended too
        return "ended"
    if now < as_utc(drop.priority_starts_at):
        return "upcoming"
    if remaining <= 0:
        return "sold_out"
    return "priority" if now < as_utc(drop.starts_at) else "open"


def variant_fields(drop: Drop, left: dict[str, int] | None) -> list[dict[str, Any]]:
    """The drop's variants with their units left (their stock while Redis has not counted them)."""
    return [{"sku": v["sku"], "name": v["name"], "stock": v["stock"], "price_cents": v["price_cents"],
             "remaining": (left or {}).get(v["sku"], v["stock"])} for v in drop.variants or ()]


def drop_fields(drop: Drop, live: LiveDrop, now: datetime, base_url: str,
                left: dict[str, int] | None = None, reservations: int = 0) -> dict[str, Any]:
    """A drop as the contract shows it (what DropOut validates), cheap enough for every poll: the
    catalog's record with Redis's live units and controls (paused, notice: every node at once)."""
    assert drop.id is not None
    remaining = live.remaining
    starts, priority = as_utc(drop.starts_at), as_utc(drop.priority_starts_at)
    return {"id": drop.id, "sku": drop.sku, "name": drop.name, "price_cents": drop.price_cents,
            "currency": drop.currency, "stock": drop.stock, "starts_at": starts, "ends_at": as_utc(drop.ends_at),
            "priority_starts_at": priority, "priority_minutes": int((starts - priority).total_seconds() // 60),
            "per_user_limit": drop.per_user_limit, "pay_window_seconds": drop.pay_window_seconds,
            "remaining": remaining, "phase": phase_of(drop, remaining, now), "waiting_room": drop.waiting_room,
            "prequeue_minutes": drop.prequeue_minutes, "admit_per_second": drop.admit_per_second,
            "challenge": drop.challenge, "paused": live.paused, "notice": live.notice or None,
            "reservations": reservations, "reservation_only_minutes": drop.reservation_only_minutes,
            "waitlist_hold_minutes": drop.waitlist_hold_minutes, "shipping_required": drop.shipping_required,
            "description": drop.description,
            "specs": drop.specs or [], "variants": variant_fields(drop, left),
            "mode": drop.mode, "entries_open_at": _utc(drop.entries_open_at),
            "entries_close_at": _utc(drop.entries_close_at), "backups": drop.backups,
            **image_fields(drop.image, base_url, drop.pictures)}


def drop_out(drop: Drop, live: LiveDrop, now: datetime, base_url: str = "",
             left: dict[str, int] | None = None, reservations: int = 0) -> DropOut:
    return DropOut(**drop_fields(drop, live, now, base_url, left, reservations))


def recorded(drop: Drop) -> LiveDrop:
    """The live fields as the record has them (a drop Redis has not loaded yet: all its stock left)."""
    return LiveDrop(drop.stock, drop.paused, drop.notice or "")


def _utc(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def picture_name(image: dict[str, Any] | None) -> str | None:
    """The stored picture's largest JPEG (names are content hashes: a change shows as a new name)."""
    variants = (image or {}).get("variants") or [{}]
    name = variants[-1].get("jpeg")
    return str(name) if name else None


def picture_names(pictures: list[dict[str, Any]] | None) -> list[JSONValue]:
    """The gallery as an audit entry keeps it: each picture's name, in order."""
    return [picture_name(p) for p in pictures or ()]


def drop_snapshot(drop: Drop) -> Snapshot:
    """The drop's settings as an audit entry keeps them (before and after a change)."""
    return {"sku": drop.sku, "name": drop.name, "price_cents": drop.price_cents, "currency": drop.currency,
            "stock": drop.stock, "priority_starts_at": _iso(drop.priority_starts_at),
            "starts_at": _iso(drop.starts_at), "ends_at": _iso(drop.ends_at), "per_user_limit": drop.per_user_limit,
            "pay_window_seconds": drop.pay_window_seconds, "waiting_room": drop.waiting_room,
            "prequeue_minutes": drop.prequeue_minutes, "admit_per_second": drop.admit_per_second,
            "challenge": drop.challenge, "paused": drop.paused, "notice": drop.notice,
            "cancelled_at": _iso(drop.cancelled_at), "image": picture_name(drop.image),
            "pictures": picture_names(drop.pictures), "shipping_required": drop.shipping_required,
            "description": drop.description, "specs": [dict(spec) for spec in drop.specs or ()],
            "variants": [dict(v) for v in drop.variants or ()], "mode": drop.mode,
            "entries_open_at": _iso(drop.entries_open_at), "entries_close_at": _iso(drop.entries_close_at),
            "backups": drop.backups, "waitlist_hold_minutes": drop.waitlist_hold_minutes}


class ReservationCounts(Protocol):
    """How many accounts asked to be reminded of each drop (messages/), read with the listings."""

    async def counts(self, drop_ids: Sequence[int]) -> list[int]: ...


class NoReservations:
    async def counts(self, drop_ids: Sequence[int]) -> list[int]:
        return [0] * len(drop_ids)


DRAW_LASTS = timedelta(days=1)  # a draw drop's default end: time for lapsed wins to pass to backups


def new_drop(body: DropCreate, settings: Settings, now: datetime) -> Drop:
    draw = body.mode == "draw"
    if draw and body.starts_at is None:
        assert body.entries_close_at is not None
        starts = body.entries_close_at.astimezone(UTC)
    else:
        starts = body.starts_at.astimezone(UTC) if body.starts_at else next_weekly_slot(
            now, settings.weekday_index, settings.drop_time, settings.zone)
    ends = body.ends_at.astimezone(UTC) if body.ends_at else starts + (DRAW_LASTS if draw else timedelta(hours=1))
    if ends <= starts:
        raise BadDrop("ends_at must be after starts_at")
    if ends <= now:
        raise BadDrop("ends_at is in the past")
    return Drop(sku=body.sku, name=body.name, price_cents=body.price_cents, currency=body.currency,
                stock=body.stock, starts_at=starts, ends_at=ends,
                priority_starts_at=starts - timedelta(minutes=body.priority_minutes),
                per_user_limit=body.per_user_limit, pay_window_seconds=body.pay_window_seconds,
                waiting_room=body.waiting_room, prequeue_minutes=body.prequeue_minutes,
                admit_per_second=body.admit_per_second,
                challenge=body.waiting_room if body.challenge is None else body.challenge,
                reservation_only_minutes=body.reservation_only_minutes,
                waitlist_hold_minutes=body.waitlist_hold_minutes,
                shipping_required=body.shipping_required, description=body.description or None,
                specs=[spec.model_dump() for spec in body.specs] or None,
                variants=[{"sku": v.sku, "name": v.name, "stock": v.stock,
                           "price_cents": body.price_cents if v.price_cents is None else v.price_cents}
                          for v in body.variants] or None,
                mode=body.mode, backups=(body.backups if body.backups is not None else body.stock) if draw else None,
                entries_open_at=body.entries_open_at.astimezone(UTC) if body.entries_open_at else None,
                entries_close_at=body.entries_close_at.astimezone(UTC) if body.entries_close_at else None)


class DropAdmin:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: Settings,
                 inventory: Inventory, loader: DropLoader, catalog: DropCatalog, queue: QueueService,
                 images: DropImageService, reservations: ReservationCounts | None = None) -> None:
        self.sessions = sessions
        self.reservations = reservations or NoReservations()
        self.clock = clock
        self.settings = settings  # the weekly schedule (new drops) and the base URL (image links)
        self.images = images
        self.inventory = inventory
        self.loader = loader
        self.catalog = catalog
        self.queue = queue

    async def create_drop(self, body: DropCreate, actor: Actor) -> DropOut:
        now = self.clock.now()
        async with self.sessions.begin() as session:
            drop = await DropRepository(session).add(new_drop(body, self.settings, now))
            if drop.mode == "draw":
                assert drop.id is not None
                session.add(new_draw(drop.id))  # the seed, committed with the drop (its hash public at open)
            await AuditRepository(session).record(actor, Change("drop.create", "drop", str(drop.id),
                                                                after=drop_snapshot(drop)), now)
        # Committed: listings in every worker show it now (Redis learns its stock on first use).
        await self.catalog.put(drop)
        return drop_out(drop, recorded(drop), now, self.settings.base_url)

    async def live(self, drops: list[Drop]) -> list[LiveDrop]:
        """Each drop's live state, its Redis state built from SQL first where Redis lacks it."""
        found = await self.inventory.live([d.id for d in drops if d.id is not None])
        out = []
        for drop, live in zip(drops, found, strict=True):
            if live is None:
                await self.loader.load(drop)
                live = (await self.inventory.live([drop.id or 0]))[0] or recorded(drop)
            out.append(live)
        return out

    async def out(self, drop: Drop) -> DropOut:
        """The drop as the API answers it, with its live state, its variants' units left and how many
        asked to be reminded."""
        live = (await self.live([drop]))[0]
        left = (await self.inventory.variants_left([drop])).get(drop.id or 0) if drop.variants else None
        reserved = (await self.reservations.counts([drop.id]))[0] if drop.id is not None else 0
        return drop_out(drop, live, self.clock.now(), self.settings.base_url, left, reserved)

    async def list_drops(self) -> bytes:
        """The drops not yet ended as JSON, from the catalog and the live counters: Redis only (one
        round trip), whatever the database is doing."""
        now = self.clock.now()
        drops = await self.catalog.current()
        ids = [d.id for d in drops if d.id is not None]
        found = await self.inventory.live(ids)
        reservations = await self.reservations.counts(ids)
        fields = []
        for drop, live, reserved in zip(drops, found, reservations, strict=True):
            if live is None:  # Redis does not hold the drop yet: built from SQL, once
                try:
                    live = (await self.live([drop]))[0]
                except DATABASE_DOWN:
                    # The others still list: this one's page answers 503 until the database is back.
                    log.warning("drop %s left out of the listing: its state needs the database", drop.id)
                    continue
            fields.append(drop_fields(drop, live, now, self.settings.base_url, reservations=reserved))
        if any(d.variants for d in drops):
            left = await self.inventory.variants_left(drops)
            by_id = {d.id: d for d in drops}
            for shown in fields:
                if shown["id"] in left:
                    shown["variants"] = variant_fields(by_id[shown["id"]], left[shown["id"]])
        return orjson.dumps(fields, option=orjson.OPT_UTC_Z)

    async def drop_json(self, drop_id: int) -> bytes:
        drop = await self._drop(drop_id)
        live = (await self.live([drop]))[0]
        reserved = (await self.reservations.counts([drop_id]))[0]
        left = (await self.inventory.variants_left([drop])).get(drop_id) if drop.variants else None
        return orjson.dumps(drop_fields(drop, live, self.clock.now(), self.settings.base_url, left, reserved),
                            option=orjson.OPT_UTC_Z)

    async def changed(self, drop: Drop) -> None:
        """An operator changed the drop (in the request's transaction; should the commit fail, the
        sweeper sets the catalog back to what SQL holds within seconds)."""
        await self.catalog.put(drop)

    def _image_audit(self, drop_id: int, actor: Actor, action: str) -> ImageChanged:
        """The audit entry of a change to the drop's pictures (in the change's transaction): `drop.image`
        names the first picture before and after, `drop.images` the whole gallery."""
        async def audit(session: AsyncSession, before: Gallery, after: Gallery) -> None:
            if action == "drop.image":
                change = Change(action, "drop", str(drop_id), before={"image": picture_name(before[0] if before
                                                                                         else None)},
                                after={"image": picture_name(after[0] if after else None)})
            else:
                change = Change(action, "drop", str(drop_id), before={"pictures": picture_names(before)},
                                after={"pictures": picture_names(after)})
            await AuditRepository(session).record(actor, change, self.clock.now())

        return audit

    async def upload_image(self, drop_id: int, data: bytes, actor: Actor) -> DropOut:
        """A new first product picture: stored and committed (with its audit entry), then every worker's
        listings show it."""
        await self.changed(await self.images.upload(drop_id, data, self._image_audit(drop_id, actor, "drop.image")))
        return await self.get_drop(drop_id)

    async def add_image(self, drop_id: int, data: bytes, actor: Actor) -> DropOut:
        """A picture added to the end of the gallery (audited)."""
        await self.changed(await self.images.add(drop_id, data, self._image_audit(drop_id, actor, "drop.images")))
        return await self.get_drop(drop_id)

    async def remove_image(self, drop_id: int, index: int, actor: Actor) -> DropOut:
        """The gallery without the picture at `index` (its files stay: other drops may show them; audited)."""
        await self.changed(await self.images.remove(drop_id, index,
                                                    self._image_audit(drop_id, actor, "drop.images")))
        return await self.get_drop(drop_id)

    async def drop_record(self, drop_id: int) -> Drop | None:
        """The drop as the catalog holds it (SQL only for a drop it lacks), or None."""
        return await self.catalog.get(drop_id)

    async def _drop(self, drop_id: int) -> Drop:
        drop = await self.catalog.get(drop_id)
        if drop is None:
            raise DropNotFound()
        return drop

    async def get_drop(self, drop_id: int) -> DropOut:
        return await self.out(await self._drop(drop_id))

    async def stats(self, drop_id: int) -> StatsOut:
        drop = await self._drop(drop_id)

        async def missing(found: tuple[dict[bytes, bytes], dict[bytes, bytes], int, dict[str, LiveOrder]]) -> bool:
            return b"remaining" not in found[0]

        async def read() -> tuple[dict[bytes, bytes], dict[bytes, bytes], int, dict[str, LiveOrder]]:
            if drop.variants:  # every order, at the same moment as the counters
                return await self.inventory.stats_with_orders(drop_id)
            return (*await self.inventory.stats(drop_id), {})

        inv, rejected, orders, live = await self.loader.retry_missing(drop_id, read, missing)
        counts: Counter[str] = Counter()
        for code, count in rejected.items():
            counts[client_code(code.decode())] += int(count)

        def num(name: str) -> int:
            return int(inv.get(name.encode(), 0))

        # Attempts are derived, not counted on the purchase path: each made an order or a refusal.
        sold_out_ms = inv.get(b"sold_out_at")
        variants = self._variant_stats(drop, inv, live) if drop.variants else None
        prices = {str(v["sku"]): int(v["price_cents"]) for v in drop.variants or ()}
        # Each variant at its own price; a drop without variants at the drop's.
        revenue = (sum(stats.paid * prices[sku] for sku, stats in variants.items()) if variants
                   else num("paid") * drop.price_cents)
        return StatsOut(drop_id=drop_id, stock=num("stock"), remaining=num("remaining"), reserved=num("reserved"),
                        paid=num("paid"), expired=num("expired"), cancelled=num("cancelled"),
                        attempts=orders + sum(counts.values()), rejected=dict(counts),
                        sold_out_at=datetime.fromtimestamp(int(sold_out_ms) / 1000, UTC) if sold_out_ms else None,
                        phase=phase_of(drop, num("remaining") - num("wl_held") - num("wl_waiting"),
                                       self.clock.now()),
                        queue=await self.queue.counts(drop_id) if drop.waiting_room else None,
                        refunded=num("refunded"), revenue_cents=revenue,
                        variants=variants, waitlist=None if drop.mode == "draw" else WaitlistCounts(
                            waiting=num("wl_waiting"), holds_active=num("wl_held"), joined=num("wl_joined"),
                            offered=num("wl_offered"), claimed=num("wl_claimed"), passed=num("wl_passed"),
                            left=num("wl_left")))

    def _variant_stats(self, drop: Drop, inv: dict[bytes, bytes], live: dict[str, LiveOrder]
                       ) -> dict[str, VariantStats]:
        """Per variant: units left from the drop's counters, the rest summed over its orders in Redis
        (read in the same MULTI: remaining + reserved + paid == stock holds for each variant too)."""
        units: dict[str, Counter[str]] = {str(v["sku"]): Counter() for v in drop.variants or ()}
        for order in live.values():
            if order.variant in units:
                units[order.variant]["reserved" if order.status == "paying" else order.status] += order.quantity
        return {str(v["sku"]): VariantStats(
            stock=int(v["stock"]), remaining=int(inv.get(f"v:{v['sku']}".encode(), v["stock"])),
            reserved=units[v["sku"]]["reserved"], paid=units[v["sku"]]["paid"], expired=units[v["sku"]]["expired"],
            cancelled=units[v["sku"]]["cancelled"], refunded=units[v["sku"]]["refunded"]) for v in drop.variants or ()}

    async def open_events(self, drop_id: int) -> AsyncIterator[bytes]:
        """The dashboard's event stream of a drop; raises drop_not_found before it starts."""
        await self.loader.load_by_id(drop_id)
        return self.stats_events(drop_id)

    async def stats_events(self, drop_id: int, interval: float = 1.0) -> AsyncIterator[bytes]:
        """Server-Sent Events for the operator's dashboard: the drop's stats every `interval` seconds."""
        while True:
            stats = await self.stats(drop_id)
            yield b"data: " + stats.model_dump_json().encode() + b"\n\n"
            await asyncio.sleep(interval)
