"""Alembic environment: the URL comes from the settings (FLASHSALE_DATABASE_URL) or the caller."""
from __future__ import annotations

import asyncio
import importlib

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from alembic import context
from core.settings import Settings

# Every module that declares tables: autogenerate compares the database with what these put in
# SQLModel.metadata (tests/test_migrations.py runs it in a fresh interpreter, so a table missing here fails).
MODEL_MODULES = ("audit.models", "accounts.models", "accounts.addresses.models", "messages.models",
                 "codes.models", "sale.models",
                 "sale.share.models", "sale.payments.models", "sale.draw.models", "app.demo.models")
for _module in MODEL_MODULES:
    importlib.import_module(_module)

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url")
    return str(url) if url else Settings().async_database_url


def run_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
