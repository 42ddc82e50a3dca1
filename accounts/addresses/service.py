"""A buyer's address book, and the copy of an address an order ships to."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.addresses.exceptions import AddressNotFound, TooManyAddresses
from accounts.addresses.models import Address
from accounts.addresses.repository import AddressRepository
from accounts.addresses.schemas import AddressIn, AddressOut, Shipping

MAX_ADDRESSES = 20


def address_out(address: Address) -> AddressOut:
    assert address.id is not None
    return AddressOut(id=address.id, name=address.name, phone=address.phone, country=address.country,
                      region=address.region, city=address.city, line1=address.line1, line2=address.line2,
                      postal_code=address.postal_code)


class AddressBook:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_addresses: int = MAX_ADDRESSES) -> None:
        self.sessions = sessions
        self.max_addresses = max_addresses

    async def add(self, user_id: int, body: AddressIn) -> AddressOut:
        async with self.sessions.begin() as session:
            repo = AddressRepository(session)
            if await repo.count(user_id) >= self.max_addresses:
                raise TooManyAddresses(f"An account keeps at most {self.max_addresses} addresses")
            address = await repo.add(Address(user_id=user_id, **body.model_dump()))
            return address_out(address)

    async def list_for(self, user_id: int) -> list[AddressOut]:
        async with self.sessions() as session:
            return [address_out(a) for a in await AddressRepository(session).for_user(user_id)]

    async def delete(self, user_id: int, address_id: int) -> None:
        async with self.sessions.begin() as session:
            if not await AddressRepository(session).delete(user_id, address_id):
                raise AddressNotFound()

    async def shipping(self, user_id: int, address_id: int) -> Shipping:
        """The buyer's own address as an order keeps it; 404 address_not_found for anyone else's."""
        async with self.sessions() as session:
            address = await AddressRepository(session).get(user_id, address_id)
        if address is None:
            raise AddressNotFound()
        return Shipping(name=address.name, phone=address.phone, country=address.country, city=address.city,
                        line1=address.line1, region=address.region, line2=address.line2,
                        postal_code=address.postal_code)
