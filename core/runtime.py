"""What the lifespan makes: engine, sessions, Redis, scripts, token service. One per worker process.

The clients only: the domain services are built from them in the composition root (app/wiring.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry
from core.settings import Settings
from core.tokens import TokenService


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: RedisClient
    keys: Keys
    scripts: ScriptRegistry
    tokens: TokenService
