"""A buyer's address book, and the copy of an address an order ships to.

SQL is the record; Redis keeps each account's copy (accounts/addresses/copy.py), which a payment
reads: paying with an address the copy holds never waits on SQL. The copy is written by the request
that writes SQL (after the commit), and filled from SQL when the book is listed, when a payment
names an address the copy lacks (then, and only then, the payment reads SQL), and at start-up after
Redis lost it (`backfill`)."""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.addresses.copy import MISSING, AddressCopy
from accounts.addresses.exceptions import AddressNotFound, TooManyAddresses
from accounts.addresses.models import Address
from accounts.addresses.repository import AddressRepository
from accounts.addresses.schemas import AddressIn, AddressOut, Shipping

MAX_ADDRESSES = 20
BACKFILL_BATCH = 500


def address_out(address: Address) -> AddressOut:
    assert address.id is not None
    return AddressOut(id=address.id, name=address.name, phone=address.phone, country=address.country,
                      region=address.region, city=address.city, line1=address.line1, line2=address.line2,
                      postal_code=address.postal_code)


def shipping_of(address: Address) -> Shipping:
    return Shipping(name=address.name, phone=address.phone, country=address.country, city=address.city,
                    line1=address.line1, region=address.region, line2=address.line2,
                    postal_code=address.postal_code)


def _entries(addresses: list[Address]) -> list[tuple[int, Shipping]]:
    return [(a.id, shipping_of(a)) for a in addresses if a.id is not None]


class AddressBook:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], copy: AddressCopy,
                 max_addresses: int = MAX_ADDRESSES) -> None:
        self.sessions = sessions
        self.copy = copy
        self.max_addresses = max_addresses

    async def add(self, user_id: int, body: AddressIn) -> AddressOut:
        async with self.sessions.begin() as session:
            repo = AddressRepository(session)
            if await repo.count(user_id) >= self.max_addresses:
                raise TooManyAddresses(f"An account keeps at most {self.max_addresses} addresses")
            address = await repo.add(Address(user_id=user_id, **body.model_dump()))
        assert address.id is not None
        # After the commit: should Redis fail here, listing the book or paying with it copies it then.
        await self.copy.put(user_id, address.id, shipping_of(address))
        return address_out(address)

    async def list_for(self, user_id: int) -> list[AddressOut]:
        async with self.sessions() as session:
            addresses = await AddressRepository(session).for_user(user_id)
        if addresses:
            await self.copy.fill({user_id: _entries(addresses)})
        return [address_out(a) for a in addresses]

    async def delete(self, user_id: int, address_id: int) -> None:
        async with self.sessions.begin() as session:
            deleted = await AddressRepository(session).delete(user_id, address_id)
        if deleted or isinstance(await self.copy.get(user_id, address_id), Shipping):
            # Gone from SQL (now, or by a delete whose copy was not written): gone from the copy.
            await self.copy.delete(user_id, address_id)
        if not deleted:
            raise AddressNotFound()

    async def shipping(self, user_id: int, address_id: int) -> Shipping:
        """The buyer's own address as an order keeps it, from Redis; 404 address_not_found for anyone
        else's. SQL is read only when the copy doesn't know the address (Redis lost it, or a bad id)."""
        copied = await self.copy.get(user_id, address_id)
        if isinstance(copied, Shipping):
            return copied
        if copied is None:
            raise AddressNotFound()
        assert copied is MISSING
        async with self.sessions() as session:
            address = await AddressRepository(session).get(user_id, address_id)
        if address is None:
            raise AddressNotFound()
        shipping = shipping_of(address)
        await self.copy.fill({user_id: [(address_id, shipping)]})
        return shipping

    async def backfill(self) -> int:
        """Copies every address from SQL into Redis, once per Redis lifetime (start-up); how many."""
        if await self.copy.all_copied():
            return 0
        copied, after = 0, 0
        while True:
            async with self.sessions() as session:
                batch = await AddressRepository(session).page(after, BACKFILL_BATCH)
            if not batch:
                break
            books: dict[int, list[tuple[int, Shipping]]] = defaultdict(list)
            for address in batch:
                assert address.id is not None
                books[address.user_id].append((address.id, shipping_of(address)))
            await self.copy.fill(books)
            copied += len(batch)
            after = batch[-1].id or after
        await self.copy.mark_all_copied()
        return copied
