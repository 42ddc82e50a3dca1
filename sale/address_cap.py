"""The per-address cap: how many reserved-but-unpaid units one client address (an IPv6 one by its /64)
may hold in one drop, whatever its accounts (purchase.lua refuses past it: `address_limit`).

One number for every drop fails both ways: 4 shuts a carrier NAT's or a campus's buyers out of a
1,000-unit drop after four of them, while a number that lets them in hands a farm a small drop. So the
cap is a share of the drop's stock, with a floor counted in buyers (each at the drop's per-user limit),
so one client alone never fills its address's cap. Paying, cancelling and expiry free the units."""
from __future__ import annotations

import math
from dataclasses import dataclass

from sale.catalog import DropCatalog


@dataclass(frozen=True, slots=True)
class AddressCap:
    floor_buyers: int  # an address may always hold this many buyers' full per-user limit
    share: float       # ... or this share of the drop's stock, whichever is more

    def units(self, stock: int, per_user_limit: int) -> int:
        by_share = math.ceil(round(self.share * stock, 9))  # round: 0.07 * 100 is 7.000000000000001
        return max(self.floor_buyers * max(1, per_user_limit), by_share, 1)


class AddressCaps:
    """The cap of each drop, from the catalog's copy of it (never SQL: it runs on every purchase)."""

    def __init__(self, policy: AddressCap, catalog: DropCatalog) -> None:
        self.policy = policy
        self.catalog = catalog

    async def of(self, drop_id: int) -> int:
        drop = await self.catalog.listed(drop_id)
        if drop is None:  # unknown or long ended: the script answers "missing" or not_open
            return self.policy.floor_buyers
        return self.policy.units(drop.stock, drop.per_user_limit)
