"""An app on a `ManualClock`: tests step time (pay windows, gifts, months) instead of sleeping.

The app has a database and a Redis key prefix of its own: its sweeper, moved hours ahead, must never
expire or sweep the orders of the session-wide app (which runs on the system clock). Each test gets
a fresh app whose clock starts at the real now, so a test moving time cannot leak into the next."""
from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from core.clock import ManualClock
from core.migrate import upgrade
from core.settings import Settings
from tests.support import PG_URL, SERVICES, delete_prefix


@dataclass
class Manual:
    """An app, its client, the clock they read, and its settings (a second app may share its database)."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: ManualClock
    settings: Settings


def own_database(settings: Settings, directory: Path) -> Settings:
    """On SQLite, `settings` with a copy of the migrated database for one test alone: a connection an
    earlier test's app left in a transaction (a cancelled loop's, say) held the shared file's write lock,
    and a later test met "database is locked". PostgreSQL's row locks do not block other tests' rows."""
    if SERVICES:
        return settings
    template = Path(settings.database_url.split(":///", 1)[1])
    target = directory / "manual.db"
    shutil.copyfile(template, target)
    # Its ids start again from the template's: a key prefix of its own too (removed by the caller).
    return settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{target}",
                                       "redis_prefix": f"{settings.redis_prefix}{next(_COPIES)}"})


def drop_own_keys(settings: Settings, shared: Settings) -> None:
    """The keys of an `own_database` copy, once its app has stopped."""
    if settings.redis_prefix != shared.redis_prefix:
        delete_prefix(settings.redis_url, settings.redis_prefix)


_COPIES = itertools.count(1)


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def manual_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    var_dir = tmp_path_factory.mktemp("var-manual")
    name = ""
    if SERVICES:
        name = settings.database_url.rsplit("/", 1)[1] + "_manual"
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        database_url = f"{settings.database_url.rsplit('/', 1)[0]}/{name}"
    else:
        database_url = f"sqlite+aiosqlite:///{var_dir / 'manual.db'}"
    manual = settings.model_copy(update={"database_url": database_url, "var_dir": var_dir,
                                         "redis_prefix": f"{settings.redis_prefix}m"})
    upgrade(manual)
    yield manual
    delete_prefix(settings.redis_url, manual.redis_prefix)
    if name:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def manual(manual_settings: Settings, tmp_path: Path) -> AsyncIterator[Manual]:
    """A fresh app and client on a ManualClock started at the real now (background loops running)."""
    clock = ManualClock()
    settings = own_database(manual_settings, tmp_path)
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            yield Manual(application, client, clock, settings)
    drop_own_keys(settings, manual_settings)
