from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.exceptions import BadCredentials, EmailTaken, UserNotFound
from accounts.models import Role, User
from accounts.passwords import hash_password_async, verify_password_async
from accounts.repository import UserRepository
from accounts.schemas import TokenOut, UserOut
from core.ratelimit import FailureLimiter
from core.runtime import Runtime


def user_out(user: User) -> UserOut:
    assert user.id is not None
    return UserOut(id=user.id, email=user.email, display_name=user.display_name, role=Role(user.role))


async def create_user(session: AsyncSession, email: str, password: str, role: Role,
                      display_name: str | None = None) -> User:
    repo = UserRepository(session)
    if await repo.by_email(email) is not None:
        raise EmailTaken(f"{email} is already registered")
    user = User(email=email.lower(), password_hash=await hash_password_async(password), role=role.value,
                display_name=display_name)
    try:
        async with session.begin_nested():
            return await repo.add(user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTaken(f"{email} is already registered") from exc


async def login(runtime: Runtime, session: AsyncSession, email: str, password: str, address: str) -> TokenOut:
    keys = runtime.keys
    limit_keys = [keys.login_failures("account", email.lower()[:320]),
                  keys.login_failures("address", address)]
    limiter = FailureLimiter(runtime.redis, limit=runtime.settings.login_max_failures,
                             window_seconds=runtime.settings.login_window_seconds)
    await limiter.check(limit_keys)
    user = await UserRepository(session).by_email(email)
    if not await verify_password_async(user.password_hash if user else None, password) or user is None:
        await limiter.record_failure(limit_keys)
        raise BadCredentials()
    assert user.id is not None
    token, ttl = runtime.tokens.issue(user.id, user.role)
    return TokenOut(access_token=token, expires_in=ttl)


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await UserRepository(session).by_id(user_id)
    if user is None:
        raise UserNotFound()
    return user


async def change_role(session: AsyncSession, user_id: int, role: Role) -> User:
    user = await get_user(session, user_id)
    user.role = role.value
    session.add(user)
    await session.flush()
    return user
