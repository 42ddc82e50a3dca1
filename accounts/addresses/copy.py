"""Each account's addresses in Redis, so paying with one never waits on SQL.

One hash per account (`keys.address_book`): address id -> the address as an order keeps it (JSON), or
"" once deleted (a tombstone, so a copy read from SQL before the delete can't bring it back). SQL
stays the record; the address book writes the copy in the same request that writes SQL (after its
commit), and fills it from SQL with HSETNX (never over a newer value or a tombstone): when the book
is listed, when a payment names an address the copy lacks, and at start-up once per Redis lifetime
(`keys.address_books_copied` gone: a flushed or new Redis)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from accounts.addresses.schemas import Shipping
from core.keys import Keys
from core.redis import RedisClient

DELETED = b""


class Missing:
    """The copy has no entry for the address (never copied, or Redis lost it): ask SQL."""


MISSING = Missing()


class AddressCopy:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def get(self, user_id: int, address_id: int) -> Shipping | Missing | None:
        """The address; None when the account deleted it; MISSING when the copy doesn't know it."""
        raw = await self.redis.hget(self.keys.address_book(user_id), str(address_id))
        if raw is None:
            return MISSING
        if raw == DELETED:
            return None
        return Shipping.from_dict(json.loads(raw))

    async def put(self, user_id: int, address_id: int, shipping: Shipping) -> None:
        """A new address (ids are never reused for one account while its row exists)."""
        await self.redis.hset(self.keys.address_book(user_id), str(address_id), _dump(shipping))

    async def delete(self, user_id: int, address_id: int) -> None:
        await self.redis.hset(self.keys.address_book(user_id), str(address_id), DELETED)

    async def fill(self, books: Mapping[int, Iterable[tuple[int, Shipping]]]) -> None:
        """Addresses read from SQL, each copied unless the copy has it already (or saw it deleted)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, addresses in books.items():
                key = self.keys.address_book(user_id)
                for address_id, shipping in addresses:
                    pipe.hsetnx(key, str(address_id), _dump(shipping))
            await pipe.execute()

    async def all_copied(self) -> bool:
        return bool(await self.redis.exists(self.keys.address_books_copied))

    async def mark_all_copied(self) -> None:
        await self.redis.set(self.keys.address_books_copied, b"1")


def _dump(shipping: Shipping) -> bytes:
    return json.dumps(shipping.as_dict(), ensure_ascii=False, separators=(",", ":")).encode()
