"""The demo store of a first run: seeded once (even by racing processes), only on an empty database,
only on the embedded defaults outside production, each drop with a stored picture."""
from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import func, select

from accounts.models import User
from accounts.passwords import verify_password_async
from app.demo.seed import describe, seed_demo, should_seed
from core.db import make_engine, make_sessionmaker
from core.migrate import upgrade
from core.settings import Settings
from sale.drops import phase_of
from sale.models import Drop, MediaFile
from tests.support import PG_URL, SERVICES


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Iterator[Settings]:
    """An empty, migrated database of its own (SQLite file, or a new PostgreSQL database)."""
    if not SERVICES:
        settings = Settings(var_dir=tmp_path, jwt_secret="t" * 40)
        upgrade(settings)
        yield settings
        return
    name = f"fs_demo_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        settings = Settings(var_dir=tmp_path, jwt_secret="t" * 40, database_url=f"{PG_URL.rsplit('/', 1)[0]}/{name}")
        upgrade(settings)
        yield settings
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _rows(settings: Settings) -> tuple[list[User], list[Drop]]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            users = list((await session.execute(select(User).order_by(User.id))).scalars())  # type: ignore[arg-type]
            drops = list((await session.execute(select(Drop).order_by(Drop.id))).scalars())  # type: ignore[arg-type]
            return users, drops
    finally:
        await engine.dispose()


async def _media(settings: Settings) -> set[str]:
    engine = make_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            return set((await session.execute(select(MediaFile.name))).scalars())  # type: ignore[arg-type]
    finally:
        await engine.dispose()


@pytest.mark.slow  # seeders racing with real pictures drawn
async def test_racing_seeders_seed_once(fresh_settings: Settings) -> None:
    results = await asyncio.gather(*(seed_demo(fresh_settings) for _ in range(3)))
    seeded = [r for r in results if r is not None]
    assert len(seeded) == 1
    store = seeded[0]
    users, drops = await _rows(fresh_settings)
    assert sorted(u.role for u in users) == ["employee", "operator", "shopper"]
    for account in store.accounts:  # the printed passwords are the real ones
        user = next(u for u in users if u.email == account.email)
        assert user.role == account.role and await verify_password_async(user.password_hash, account.password)
    assert len({a.password for a in store.accounts}) == 3
    now = datetime.now(UTC)
    starts = [d.starts_at.replace(tzinfo=d.starts_at.tzinfo or UTC) for d in drops]
    assert len(drops) == 4
    assert starts[0] <= now  # open now
    assert now < starts[1] <= now + timedelta(minutes=5)  # opens within five minutes
    local = starts[2].astimezone(fresh_settings.zone)  # the next drop day at the drop time
    assert (local.weekday(), local.time()) == (fresh_settings.weekday_index, fresh_settings.drop_time)
    # In early access right now: the F-code window open, the general sale later today.
    early = drops[3]
    assert phase_of(early, early.stock, now) == "priority"
    assert early.priority_starts_at.replace(tzinfo=UTC) <= now < starts[3] <= now + timedelta(hours=3)
    assert early.variants and len(early.variants) == 2 and early.shipping_required
    for drop in drops:
        assert drop.image and drop.image["variants"]
        assert drop.pictures == [drop.image]
        names = {variant[kind] for variant in drop.image["variants"] for kind in ("jpeg", "webp")}
        assert names <= await _media(fresh_settings)  # in the database: every node serves them
    text = describe(store, "http://127.0.0.1:8000")
    assert "http://127.0.0.1:8000/login" in text and all(a.password in text for a in store.accounts)
    assert "Mi Phone 15 Ultra  CN¥5,999.00  opens" in text
    assert re.search(r"Mi Pad 7 Pro  CN¥2,499.00  opens .* \(F-code early access from \d\d:\d\d UTC\)", text)
    # A second start: nothing more, nothing printed.
    assert await seed_demo(fresh_settings) is None
    assert [len(x) for x in await _rows(fresh_settings)] == [3, 4]


async def test_a_store_with_data_is_never_seeded(fresh_settings: Settings) -> None:
    engine = make_engine(fresh_settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(User(email="owner@example.com", password_hash="x", role="operator"))
    finally:
        await engine.dispose()
    assert await seed_demo(fresh_settings) is None
    users, drops = await _rows(fresh_settings)
    assert len(users) == 1 and drops == []
    async def count() -> int:
        engine = make_engine(fresh_settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return int((await session.execute(select(func.count()).select_from(Drop))).scalar_one())
        finally:
            await engine.dispose()
    assert await count() == 0


def test_only_the_embedded_defaults_outside_production_seed(tmp_path: Path) -> None:
    secret = "s" * 40
    assert should_seed(Settings(var_dir=tmp_path))
    assert not should_seed(Settings(var_dir=tmp_path, demo=False))
    assert not should_seed(Settings(var_dir=tmp_path, database_url="sqlite:///x.db"))
    assert not should_seed(Settings(var_dir=tmp_path, redis_url="redis://127.0.0.1:6379/0"))
    assert not should_seed(Settings(var_dir=tmp_path, env="production", jwt_secret=secret, secret_key=secret))
