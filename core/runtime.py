"""What the lifespan makes: engine, sessions, RedisClient, scripts, token service. One per worker process."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.keys import Keys
from core.redis import RedisClient, ScriptRegistry
from core.settings import Settings
from core.tokens import TokenService

# A paid order's hook: (runtime, order id) -> None. The share-link feature registers one.
PaidHook = Callable[["Runtime", str], Awaitable[None]]


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: RedisClient
    keys: Keys
    scripts: ScriptRegistry
    tokens: TokenService
    services: dict[str, Any] = field(default_factory=dict)
    paid_hooks: list[PaidHook] = field(default_factory=list)
