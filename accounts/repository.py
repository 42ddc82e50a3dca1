from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from accounts.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(func.lower(User.email) == email.lower()))
        return result.scalars().first()

    async def by_id(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Compare and set: a password changed in the meantime is left alone."""
        result = await self.session.execute(
            update(User).where(col(User.id) == user_id, col(User.password_hash) == old).values(password_hash=new))
        return bool(getattr(result, "rowcount", 0))

    async def token_versions(self) -> dict[int, int]:
        """{user id: token version} of every account whose version was ever bumped."""
        result = await self.session.execute(
            select(User.id, User.token_version).where(col(User.token_version) > 0))
        return {int(user_id): int(version) for user_id, version in result.all()}


def token_version_record(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[dict[int, int]]]:
    """The loader core.token_versions rebuilds from when Redis lost the versions."""
    async def load() -> dict[int, int]:
        async with sessions() as session:
            return await UserRepository(session).token_versions()

    return load
