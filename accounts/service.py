from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.exceptions import BadCredentials, EmailTaken, UserNotFound
from accounts.models import Role, User
from accounts.passwords import hash_password_async, needs_rehash, verify_password_async
from accounts.repository import UserRepository
from accounts.schemas import TokenOut, UserOut
from audit.repository import AuditRepository
from audit.schemas import Actor, Change
from core.clock import utcnow
from core.keys import Keys
from core.ratelimit import Counters
from core.redis import RedisClient
from core.settings import Settings
from core.token_versions import TokenVersions
from core.tokens import Claims, TokenService
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


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await UserRepository(session).by_id(user_id)
    if user is None:
        raise UserNotFound()
    return user


class AccountService:
    """Registration, sign-in, roles and token revocation. Reads its limits from the settings at each
    call (operators and tests may change them on a running worker)."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession], redis: RedisClient,
                 keys: Keys, tokens: TokenService, versions: TokenVersions, passwords: BoundedWork) -> None:
        self.settings = settings
        self.sessions = sessions
        self.redis = redis
        self.keys = keys
        self.tokens = tokens
        self.versions = versions
        self.passwords = passwords

    async def register(self, email: str, password: str, display_name: str | None, address: str) -> User:
        """A shopper's registration, limited per client address (counted before anything is checked)."""
        limit = self.settings.register_per_address_per_hour
        [hit] = await Counters(self.redis).hit([(self.keys.attempts("register", address), REGISTER_WINDOW_SECONDS)])
        if hit.over(limit):
            raise hit.refuse("Too many registrations from your address; try again later")
        async with self.sessions.begin() as session:
            return await create_user(session, email, password, Role.shopper, display_name, self.passwords)

    async def user(self, user_id: int) -> User:
        async with self.sessions() as session:
            return await get_user(session, user_id)

    async def _issue(self, user: User) -> TokenOut:
        """A token at the account's current version: the record's, or Redis's when a bump's commit is
        still behind it (never older, or the new token would be refused at once)."""
        assert user.id is not None
        version = max(user.token_version, await self.versions.current(user.id))
        token, ttl = self.tokens.issue(user.id, user.role, version)
        return TokenOut(access_token=token, expires_in=ttl)

    async def login(self, email: str, password: str, address: str) -> TokenOut:
        """Counted before the password is checked, on three counters:
        - the account and address pair: past LOGIN_MAX_FAILURES the pair is locked for the window
          (a guesser locks out only itself);
        - the account alone: past LOGIN_ACCOUNT_SLOW_AFTER each attempt waits longer (up to
          LOGIN_ACCOUNT_MAX_DELAY_SECONDS), from any address, but the right password still works;
        - the address alone: at most LOGIN_PER_ADDRESS_PER_MINUTE attempts, whatever the account.
        A successful login takes its own count back from the pair and the account. The account is read
        in a short session of its own: no database connection waits with the password check."""
        settings, keys = self.settings, self.keys
        account = _ident(email.lower())
        pair_key = keys.login_failures("pair", _ident(f"{email.lower()}\n{address}"))
        account_key = keys.login_failures("account", account)
        counters = Counters(self.redis)
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
        async with self.sessions() as session:
            user = await UserRepository(session).by_email(email)
        if not await verify_password_async(user.password_hash if user else None, password,
                                           self.passwords) or user is None:
            raise BadCredentials()
        await counters.forgive([pair_key, account_key])
        if needs_rehash(user.password_hash):
            await self._upgrade_hash(user, password)
        return await self._issue(user)

    async def _upgrade_hash(self, user: User, password: str) -> None:
        """A hash made with older Argon2 parameters is replaced by the current ones at sign-in, the
        only time the password is at hand."""
        assert user.id is not None
        fresh = await hash_password_async(password, self.passwords)
        async with self.sessions.begin() as session:
            await UserRepository(session).replace_password_hash(user.id, user.password_hash, fresh)

    async def _bump(self, session: AsyncSession, user: User) -> None:
        """Ends every token issued to the account so far (see core/token_versions.py), inside the
        caller's transaction (the record's new version is flushed first)."""
        assert user.id is not None
        user.token_version += 1
        session.add(user)
        await session.flush()
        await self.versions.bump(user.id, user.token_version)

    async def change_role(self, user_id: int, role: Role, actor: Actor) -> User:
        async with self.sessions.begin() as session:
            user = await get_user(session, user_id)
            if user.role != role.value:
                await AuditRepository(session).record(actor, Change(
                    "user.role", "user", str(user_id), before={"role": user.role}, after={"role": role.value}),
                    utcnow())
                user.role = role.value
                await self._bump(session, user)  # the old role's tokens stop working at once
        return user

    async def actor(self, claims: Claims, address: str) -> Actor:
        """Who acts, for the audit log: the account and its email as they are now."""
        return Actor(user_id=claims.user_id, email=(await self.user(claims.user_id)).email, address=address)

    async def change_password(self, claims: Claims, current: str, new: str, address: str) -> TokenOut:
        """Needs the current password (counted like a sign-in); ends every other token and answers a
        fresh one for the caller."""
        await self.login((await self.user(claims.user_id)).email, current, address)
        fresh = await hash_password_async(new, self.passwords)
        async with self.sessions.begin() as session:
            user = await get_user(session, claims.user_id)
            user.password_hash = fresh
            await self._bump(session, user)
        return await self._issue(user)

    async def sign_out_everywhere(self, claims: Claims) -> None:
        async with self.sessions.begin() as session:
            await self._bump(session, await get_user(session, claims.user_id))
