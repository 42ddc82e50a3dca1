"""What the lifespan makes: engine, sessions, Redis, scripts, token service. One per worker process.

The clients only: the domain services are built from them in the composition root (app/wiring.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import SYSTEM_CLOCK, Clock
from core.db import WriteHealth
from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry
from core.settings import Settings
from core.token_versions import TokenVersions
from core.tokens import TokenService
from core.work import BoundedWork


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: RedisClient
    keys: Keys
    scripts: ScriptRegistry
    tokens: TokenService
    versions: TokenVersions
    passwords: BoundedWork  # Argon2 work: bounded so logins cannot starve the sale
    database_writes: WriteHealth = field(default_factory=WriteHealth)  # the order sink's, for /healthz
    clock: Clock = SYSTEM_CLOCK  # tests hand a ManualClock to create_app / running
