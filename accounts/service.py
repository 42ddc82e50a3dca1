from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.exceptions import BadCredentials, EmailTaken, UserNotFound
from accounts.models import Role, User
from accounts.passwords import hash_password_async, needs_rehash, verify_password_async
from accounts.repository import UserRepository
from accounts.schemas import TokenOut, UserOut
from core.ratelimit import Counters
from core.runtime import Runtime
from core.tokens import Claims
from core.work import BoundedWork

ADDRESS_WINDOW_SECONDS = 60
REGISTER_WINDOW_SECONDS = 3600


def user_out(user: User) -> UserOut:
    assert user.id is not None
    return UserOut(id=user.id, email=user.email, display_name=user.display_name, role=Role(user.role))


def _ident(text: str) -> str:
    """Names an email (or an email and an address) in Redis keys without spelling it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


async def create_user(session: AsyncSession, email: str, password: str, role: Role,
                      display_name: str | None = None, work: BoundedWork | None = None) -> User:
    # Hashed before the first query: the request's database connection is not held while the hash
    # waits for its turn (a login flood would otherwise drain the pool every page needs).
    password_hash = await hash_password_async(password, work)
    repo = UserRepository(session)
    if await repo.by_email(email) is not None:
        raise EmailTaken(f"{email} is already registered")
    user = User(email=email.lower(), password_hash=password_hash, role=role.value, display_name=display_name)
    try:
        async with session.begin_nested():
            return await repo.add(user)
    except IntegrityError as exc:  # a concurrent registration won the race
        raise EmailTaken(f"{email} is already registered") from exc


async def register(runtime: Runtime, session: AsyncSession, email: str, password: str,
                   display_name: str | None, address: str) -> User:
    """A shopper's registration, limited per client address (counted before anything is checked)."""
    limit = runtime.settings.register_per_address_per_hour
    [hit] = await Counters(runtime.redis).hit([(runtime.keys.attempts("register", address),
                                                 REGISTER_WINDOW_SECONDS)])
    if hit.over(limit):
        raise hit.refuse("Too many registrations from your address; try again later")
    return await create_user(session, email, password, Role.shopper, display_name, runtime.passwords)


async def _issue(runtime: Runtime, user: User) -> TokenOut:
    """A token at the account's current version: the record's, or Redis's when a bump's commit is
    still behind it (never older, or the new token would be refused at once)."""
    assert user.id is not None
    version = max(user.token_version, await runtime.versions.current(user.id))
    token, ttl = runtime.tokens.issue(user.id, user.role, version)
    return TokenOut(access_token=token, expires_in=ttl)


async def login(runtime: Runtime, email: str, password: str, address: str) -> TokenOut:
    """Counted before the password is checked, on three counters:
    - the account and address pair: past LOGIN_MAX_FAILURES the pair is locked for the window
      (a guesser locks out only itself);
    - the account alone: past LOGIN_ACCOUNT_SLOW_AFTER each attempt waits longer (up to
      LOGIN_ACCOUNT_MAX_DELAY_SECONDS), from any address, but the right password still works;
    - the address alone: at most LOGIN_PER_ADDRESS_PER_MINUTE attempts, whatever the account.
    A successful login takes its own count back from the pair and the account. The account is read
    in a short session of its own: no database connection waits with the password check."""
    settings, keys = runtime.settings, runtime.keys
    account = _ident(email.lower())
    pair_key = keys.login_failures("pair", _ident(f"{email.lower()}\n{address}"))
    account_key = keys.login_failures("account", account)
    counters = Counters(runtime.redis)
    pair, per_account, per_address = await counters.hit([
        (pair_key, settings.login_window_seconds), (account_key, settings.login_window_seconds),
        (keys.attempts("login", address), ADDRESS_WINDOW_SECONDS)])
    if pair.over(settings.login_max_failures):
        raise pair.refuse("Too many failed sign-ins for this account from your address; try again later")
    if per_address.over(settings.login_per_address_per_minute):
        raise per_address.refuse("Too many sign-ins from your address; try again in a minute")
    excess = per_account.count - 1 - settings.login_account_slow_after
    if excess >= 0:
        await asyncio.sleep(min(settings.login_account_max_delay_seconds, 0.25 * 2 ** min(excess, 8)))
    async with runtime.sessions() as session:
        user = await UserRepository(session).by_email(email)
    if not await verify_password_async(user.password_hash if user else None, password,
                                       runtime.passwords) or user is None:
        raise BadCredentials()
    await counters.forgive([pair_key, account_key])
    if needs_rehash(user.password_hash):
        await _upgrade_hash(runtime, user, password)
    return await _issue(runtime, user)


async def _upgrade_hash(runtime: Runtime, user: User, password: str) -> None:
    """A hash made with older Argon2 parameters is replaced by the current ones at sign-in, the
    only time the password is at hand."""
    assert user.id is not None
    fresh = await hash_password_async(password, runtime.passwords)
    async with runtime.sessions.begin() as session:
        await UserRepository(session).replace_password_hash(user.id, user.password_hash, fresh)


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await UserRepository(session).by_id(user_id)
    if user is None:
        raise UserNotFound()
    return user


async def _bump(runtime: Runtime, session: AsyncSession, user: User) -> None:
    """Ends every token issued to the account so far (see core/token_versions.py)."""
    assert user.id is not None
    user.token_version += 1
    session.add(user)
    await session.flush()
    await runtime.versions.bump(user.id, user.token_version)


async def change_role(runtime: Runtime, session: AsyncSession, user_id: int, role: Role) -> User:
    user = await get_user(session, user_id)
    if user.role != role.value:
        user.role = role.value
        await _bump(runtime, session, user)  # the old role's tokens stop working at once
    return user


async def change_password(runtime: Runtime, session: AsyncSession, claims: Claims, current: str, new: str,
                          address: str) -> TokenOut:
    """Needs the current password (counted like a sign-in); ends every other token and answers a
    fresh one for the caller."""
    user = await get_user(session, claims.user_id)
    await login(runtime, user.email, current, address)
    user.password_hash = await hash_password_async(new, runtime.passwords)
    await _bump(runtime, session, user)
    return await _issue(runtime, user)


async def sign_out_everywhere(runtime: Runtime, session: AsyncSession, claims: Claims) -> None:
    await _bump(runtime, session, await get_user(session, claims.user_id))
