"""Schema migrations (Alembic), callable from the CLI and the tests."""
from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from core.db import private_sqlite
from core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(settings: Settings) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["url"] = settings.async_database_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    if settings.is_sqlite:
        private_sqlite(settings)
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings), revision)
