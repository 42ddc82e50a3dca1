"""What the lifespan makes: engine, sessions, Redis, scripts, token service. One per worker process."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.keys import Keys
from core.redis import ScriptRegistry
from core.settings import Settings
from core.token_versions import TokenVersions
from core.tokens import TokenService
from core.work import BoundedWork

# A paid order's hook: (runtime, order id) -> None. The share-link feature registers one.
PaidHook = Callable[["Runtime", str], Awaitable[None]]


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    keys: Keys
    scripts: ScriptRegistry
    tokens: TokenService
    versions: TokenVersions
    passwords: BoundedWork  # Argon2 work: bounded so logins cannot starve the sale
    services: dict[str, Any] = field(default_factory=dict)
    paid_hooks: list[PaidHook] = field(default_factory=list)
