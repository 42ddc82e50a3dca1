"""Seeds the demo store once: one account per role with random passwords, four pictured drops (one on
sale, one opening within minutes behind a waiting room, one in F-code early access right now, one on
the next drop day).

Runs in `flashsale serve` before the workers start. Seeding twice never happens: a `store_flags` row
is inserted first in the same transaction as everything else, so of two racing processes one commits
and the other fails on the primary key and rolls back (nothing half-seeded either way).
"""
from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Role, User
from accounts.service import create_user
from app.demo.models import StoreFlag
from app.demo.pictures import png
from core.db import make_engine, make_sessionmaker
from core.i18n import translator
from core.settings import Settings
from sale.drops import new_drop
from sale.images.processing import process
from sale.images.store import DatabasePictures, StoredFile, stored_files
from sale.models import Drop
from sale.schedule import next_weekly_slot
from sale.schemas import DropCreate, Spec

FLAG = "demo_seeded"
OPENS_IN = timedelta(minutes=4)  # "a drop opening within five minutes"
LASTS = timedelta(hours=12)  # a flash sale ends within hours
# The drop in early access now: F-code holders (the demo employee claims codes) may buy from
# EARLY_SINCE ago, everyone else from GENERAL_IN after the seed.
EARLY_SINCE = timedelta(minutes=5)
GENERAL_IN = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class DemoAccount:
    role: str
    email: str
    password: str


@dataclass(frozen=True, slots=True)
class DemoDrop:
    id: int
    name: str
    starts_at: datetime
    price_cents: int
    currency: str
    priority_starts_at: datetime | None = None  # F-code early access before starts_at


@dataclass(frozen=True, slots=True)
class DemoStore:
    accounts: tuple[DemoAccount, ...]
    drops: tuple[DemoDrop, ...]


class _NotEmpty(Exception):
    """The database holds accounts or drops already: a real store, not a first run."""


def should_seed(settings: Settings) -> bool:
    """Only a newcomer's first run: the embedded defaults, not production, and not turned off."""
    return settings.demo and settings.on_embedded_defaults


PHONE_TEXT = ("A Leica quad camera with a 1-inch main sensor, a 6.73-inch 2K display and a titanium frame.\n\n"
              "Each buyer may reserve two; pay within 30 minutes to keep them.")
PHONE_SPECS = [{"name": "Chip", "value": "Snapdragon 8 Gen 3"},
               {"name": "Display", "value": "6.73-inch 2K AMOLED, 120 Hz"},
               {"name": "Battery", "value": "5,000 mAh, 90 W wired"},
               {"name": "Camera", "value": "50 MP x 4, Leica optics"}]
BAND_TEXT = "A bright AMOLED band with GPS built in.\n\nThe sale opens behind a waiting room: join the line early."
BUDS_TEXT = "Hi-fi wireless earbuds with adaptive noise cancelling.\n\nEmployees with an F-code buy 30 minutes early."
PAD_TEXT = ("An 11.2-inch 3.2K display, a keyboard cover and a pen: a laptop's work in a tablet.\n\n"
            "In early access now: employees buy with an F-code (claim this month's at /fcodes); everyone else "
            "from the general sale.")


def demo_drops(settings: Settings, now: datetime) -> list[tuple[DropCreate, str]]:
    next_day = next_weekly_slot(now + OPENS_IN + timedelta(minutes=1), settings.weekday_index,
                                settings.drop_time, settings.zone)
    return [
        (DropCreate.model_validate({
            "sku": "DEMO-PHONE-15U", "name": "Mi Phone 15 Ultra", "price_cents": 599900, "currency": "CNY",
            "starts_at": now - timedelta(minutes=1), "ends_at": now + LASTS, "per_user_limit": 2,
            "shipping_required": True, "description": PHONE_TEXT, "specs": PHONE_SPECS, "variants": [
                {"sku": "DEMO-15U-BLK-512", "name": "Black, 16 GB + 512 GB", "stock": 120},
                {"sku": "DEMO-15U-WHT-512", "name": "White, 16 GB + 512 GB", "stock": 100},
                {"sku": "DEMO-15U-TI-1T", "name": "Titanium, 16 GB + 1 TB", "stock": 80, "price_cents": 699900}]}),
         "phone"),
        (DropCreate(sku="DEMO-BAND-9P", name="Mi Smart Band 9 Pro", price_cents=39900, currency="CNY",
                    stock=120, starts_at=now + OPENS_IN, ends_at=now + LASTS, waiting_room=True,
                    admit_per_second=5, shipping_required=True, description=BAND_TEXT,
                    specs=[Spec(name="Display", value="1.74-inch AMOLED, 60 Hz"),
                           Spec(name="Battery", value="Up to 21 days"),
                           Spec(name="Water resistance", value="5 ATM")]),
         "band"),  # behind a waiting room: its pre-queue is open already
        (DropCreate(sku="DEMO-BUDS-5P", name="Mi Buds 5 Pro", price_cents=109900, currency="CNY", stock=200,
                    starts_at=next_day, ends_at=next_day + timedelta(hours=1), priority_minutes=30,
                    shipping_required=True, description=BUDS_TEXT,
                    specs=[Spec(name="Noise cancelling", value="Adaptive, up to 55 dB"),
                           Spec(name="Battery", value="10 h (38 h with the case)")]), "buds"),
        (DropCreate.model_validate({
            "sku": "DEMO-PAD-7P", "name": "Mi Pad 7 Pro", "price_cents": 249900, "currency": "CNY",
            "starts_at": now + GENERAL_IN, "ends_at": now + LASTS, "per_user_limit": 1,
            "priority_minutes": int((GENERAL_IN + EARLY_SINCE).total_seconds() // 60),
            "shipping_required": True, "description": PAD_TEXT,
            "specs": [{"name": "Display", "value": "11.2-inch 3.2K LCD, 144 Hz"},
                      {"name": "Chip", "value": "Snapdragon 8s Gen 3"}, {"name": "Battery", "value": "8,850 mAh"}],
            "variants": [{"sku": "DEMO-PAD-GRY-256", "name": "Grey, 8 GB + 256 GB", "stock": 60},
                         {"sku": "DEMO-PAD-GRN-512", "name": "Green, 12 GB + 512 GB", "stock": 40,
                          "price_cents": 289900}]}), "pad"),  # F-code early access open now
    ]


async def _is_empty(session: AsyncSession) -> bool:
    users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    drops = (await session.execute(select(func.count()).select_from(Drop))).scalar_one()
    return users == 0 and drops == 0


def _stored_picture(name: str) -> tuple[dict[str, Any], list[StoredFile]]:
    return stored_files(process(png(name)))


async def _seed(session: AsyncSession, settings: Settings,
                pictures: dict[str, tuple[dict[str, Any], list[StoredFile]]],
                now: datetime) -> DemoStore:
    session.add(StoreFlag(name=FLAG, set_at=now))
    await session.flush()  # first write: takes the database's write lock, or fails if already seeded
    if not await _is_empty(session):
        raise _NotEmpty()
    accounts = []
    for role in (Role.shopper, Role.employee, Role.operator):
        password = secrets.token_urlsafe(12)
        user = await create_user(session, f"{role.value}@example.com", password, role, f"Demo {role.value}")
        accounts.append(DemoAccount(role.value, user.email, password))
    drops = []
    for body, picture in demo_drops(settings, now):
        drop = new_drop(body, settings, now)
        image, files = pictures[picture]
        await DatabasePictures(None).put(session, files)  # read from there with or without a bucket
        drop.image, drop.pictures = image, [image]
        session.add(drop)
        await session.flush()
        assert drop.id is not None
        early = drop.priority_starts_at if drop.priority_starts_at < drop.starts_at else None
        drops.append(DemoDrop(drop.id, drop.name, drop.starts_at, drop.price_cents, drop.currency, early))
    return DemoStore(tuple(accounts), tuple(drops))


async def seed_demo(settings: Settings) -> DemoStore | None:
    """The demo store when this call seeded it; None when the database is not empty or was seeded before."""
    engine = make_engine(settings)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            if await session.get(StoreFlag, FLAG) is not None or not await _is_empty(session):
                return None
        # Drawn and stored before the transaction (deterministic bytes, content-hash names: harmless
        # to repeat), so the database is locked only for the inserts.
        pictures = {name: await asyncio.to_thread(_stored_picture, name) for name in ("phone", "band", "buds", "pad")}
        try:
            async with sessions() as session, session.begin():
                return await _seed(session, settings, pictures, datetime.now(UTC))
        except (IntegrityError, _NotEmpty):
            return None  # another process seeded first, or a real store appeared meanwhile
    finally:
        await engine.dispose()


def describe(store: DemoStore, base_url: str) -> str:
    """What `flashsale serve` prints once: the drops and the accounts (passwords shown only here)."""
    english = translator("en")
    lines = ["", "Demo store seeded (first run on the embedded defaults; FLASHSALE_DEMO=false turns it off):"]
    for drop in store.drops:
        lines.append(f"  drop #{drop.id}  {drop.name}  {english.money(drop.price_cents, drop.currency)}  "
                     f"opens {drop.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
                     + (f" (F-code early access from {drop.priority_starts_at.astimezone(UTC):%H:%M} UTC)"
                        if drop.priority_starts_at else ""))
    lines.append(f"Sign in at {base_url}/login with one of these accounts (passwords are shown only this once):")
    for account in store.accounts:
        lines.append(f"  {account.role:<9} {account.email:<22} {account.password}")
    lines.append(f"The operator's dashboard: {base_url}/ops")
    lines.append("")
    return "\n".join(lines)
