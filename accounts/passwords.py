"""Argon2id password hashing (argon2-cffi), run off the event loop, bounded by a BoundedWork when
serving (so a login flood cannot take every core from the sale)."""
from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.work import BoundedWork

# OWASP's Argon2id setting (m=19 MiB, t=2, p=1): about 20 ms of one core. argon2-cffi's default
# (64 MiB, t=3, p=4) takes ~190 ms of CPU spread over threads on both cores, so one login at a time
# still starved the event loop (page p99 5x idle under a login flood). Older hashes are replaced
# at the holder's next sign-in (needs_rehash).
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored)
    except (InvalidHashError, ValueError):
        return False


async def hash_password_async(password: str, work: BoundedWork | None = None) -> str:
    if work is None:
        return await asyncio.to_thread(hash_password, password)
    return await work.run(hash_password, password)


async def verify_password_async(stored: str | None, password: str, work: BoundedWork | None = None) -> bool:
    if work is None:
        return await asyncio.to_thread(_verify, stored, password)
    return await work.run(_verify, stored, password)
