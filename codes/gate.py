"""The F-code gate on the purchase path: lease, then confirm or release.

lease is one Redis round trip (failure counters and the lease script, pipelined); confirm and
release one each. No SQL on the purchase path except one read when Redis lacks a code
(after the attempt limit was checked), and the record's catch-up runs off the request (sync.py).
The code's keys live in their own hash slot, so this cannot be one script with the purchase; a crash
between the steps only lets the lease run out (no code or unit is lost).
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codes.crypto import CodeCrypto
from codes.exceptions import FcodeInvalid
from codes.format import MalformedCode, canonical
from codes.repository import FcodeRepository
from codes.state import CodeState
from codes.sync import CodeSync
from core.errors import RateLimited
from core.keys import Keys
from core.ratelimit import FailureLimiter

log = logging.getLogger("flashsale.fcodes")
LEASE_MS = 10_000


class SaleOrder(Protocol):
    """What the gate reads of an order (the sale's LiveOrder)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def fcode(self) -> str: ...


class SaleOrders(Protocol):
    """What the gate needs of the sale's orders. The composition root passes the sale's implementation:
    codes/ sits below sale/ and never imports it."""

    async def find(self, order_id: str) -> SaleOrder | None:
        """The order's freshest state, or None."""
        ...

    async def give_back(self, order_id: str) -> str:
        """Cancels the order so its units return to stock; returns the outcome ("cancelled"...)."""
        ...


@dataclass(frozen=True, slots=True)
class Lease:
    """A code held for one purchase, handed back to `confirm` or `release`. Without a token no lease
    was needed: the buyer's own live order `held_by` already holds the code (most likely a retry),
    and the purchase may only answer that order again (same Idempotency-Key), never take a unit."""

    code_hash: str
    token: str = ""
    buyer: int | None = None
    held_by: str = ""


class Gate:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], keys: Keys, limiter: FailureLimiter,
                 crypto: CodeCrypto, state: CodeState, sync: CodeSync, orders: SaleOrders) -> None:
        self.sessions = sessions
        self.keys = keys
        self.limiter = limiter  # failed guesses per buyer and per client address
        self.crypto = crypto
        self.state = state
        self.sync = sync
        self.orders = orders

    def _counters(self, user_id: int, client: str) -> list[str]:
        keys = self.keys
        return [keys.fcode_failures("user", str(user_id)), keys.fcode_failures("addr", client)]

    def _retry_after(self, replies: list[Any]) -> int | None:
        """Seconds to wait when any counter (INCR, EXPIRE, TTL triples: this attempt counted) went
        past the limit, else None."""
        for count, ttl in zip(replies[0::3], replies[2::3], strict=True):
            if int(count) > self.limiter.limit:
                return int(ttl) if int(ttl) > 0 else self.limiter.window
        return None

    async def lease(self, code: str, user_id: int, sku: str, client: str) -> Lease:
        """Takes the code for this buyer's purchase; raises fcode_invalid or rate_limited.

        Every attempt counts as a failure before it is decided (so a parallel burst of wrong codes
        gets no more evaluated than the limit); one that turns out fine takes its count back."""
        counters = self._counters(user_id, client)
        try:
            code_hash = self.crypto.lookup_hash(canonical(code))
        except MalformedCode as exc:
            await self.limiter.attempt(counters, "Too many failed F-code attempts; try again later")
            raise FcodeInvalid(exc.problem.value) from None
        token = secrets.token_hex(8)
        replies, result = await self.state.lease(code_hash, user_id, sku, token, LEASE_MS, counters,
                                                 self.limiter.window)
        outcome = result[0].decode()
        own = self._own_use(outcome, result, user_id)
        wait = self._retry_after(replies)
        if wait is not None and own is None:
            if outcome == "ok":
                await self.state.unlease(code_hash, token)
            await self.limiter.forgive(counters)  # refused unevaluated: not a guess either
            raise RateLimited(wait, "Too many failed F-code attempts; try again later")
        if outcome == "missing" and await self.rebuild(code_hash):
            result = await self.state.lease_again(code_hash, user_id, sku, token, LEASE_MS)
            outcome = result[0].decode()
            own = self._own_use(outcome, result, user_id)
        if outcome == "used" and result[1] == b"reserved" and await self._heal(code_hash, result[2].decode()):
            # That order ended without telling the code (a crash, a lost call): it is free again.
            result = await self.state.lease_again(code_hash, user_id, sku, token, LEASE_MS)
            outcome = result[0].decode()
            own = self._own_use(outcome, result, user_id)
        if own is not None:
            # The buyer's own purchase holds the code: another of a burst (a lease), or an order of
            # theirs (a retry: with the same Idempotency-Key the purchase answers that order, else it
            # is refused before any unit is taken). No failed guess; nothing to confirm or release.
            await self.limiter.forgive(counters)
            if outcome == "busy":
                raise FcodeInvalid("This F-code is being used by another purchase of yours")
            return Lease(code_hash, held_by=own)
        if outcome != "ok":
            raise FcodeInvalid()
        await self.limiter.forgive(counters)
        return Lease(code_hash, token, user_id)

    @staticmethod
    def _own_use(outcome: str, result: list[bytes], user_id: int) -> str | None:
        """The buyer's own hold on the code: the order id for a live order of theirs, "lease" for a
        lease of another of their purchases; None for anything else."""
        if outcome == "busy" and len(result) > 1 and result[1].decode() == str(user_id):
            return "lease"
        if outcome == "used" and len(result) > 3 and result[3].decode() == str(user_id):
            status, order_id = result[1].decode(), result[2].decode()
            return order_id if status == "reserved" else None
        return None

    async def confirm(self, lease: Lease, order_id: str) -> None:
        """The purchase took its unit as `order_id`: the code is reserved for that order."""
        code_hash, token, buyer = lease.code_hash, lease.token, lease.buyer
        result = await self.state.confirm(code_hash, order_id, token, buyer)
        if result[0] == b"missing" and await self.rebuild(code_hash):
            result = await self.state.confirm(code_hash, order_id, token, buyer)
        self.sync.schedule(code_hash)
        if result[0] != b"ok":
            # The lease ran out under a slow purchase and another order took the code first:
            # this order's unit goes back, so one code never buys two units.
            log.warning("F-code conflict on confirm (%s); order %s gives its unit back",
                        result[-1].decode(), order_id)
            log.info("order %s given back: %s", order_id, await self.orders.give_back(order_id))
            raise FcodeInvalid()

    async def release(self, lease: Lease) -> None:
        """The purchase took no unit: other buyers may have the code at once."""
        if lease.token:
            await self.state.unlease(lease.code_hash, lease.token)

    async def order_released(self, code_hash: str, order_id: str) -> None:
        """The order expired or was cancelled: the code is available again until its own expiry."""
        await self._order_end(code_hash, "released", order_id, None)

    async def order_paid(self, code_hash: str, order_id: str, buyer: int | None = None) -> None:
        """The pay request marks the code redeemed in Redis at once (no SQL when the buyer is given);
        the record follows off the request (sync.py), like every other change of the code."""
        await self._order_end(code_hash, "paid", order_id, buyer)

    async def record_paid(self, session: AsyncSession, orders: Sequence[SaleOrder]) -> None:
        """The order sink's hook (sale.sink.PaidRecorder), at least once per paid order, off the pay
        request: the order's code is redeemed, should the pay request have ended before marking it."""
        for order in orders:
            if order.fcode:
                await self._order_end(order.fcode, "paid", order.id, order.user_id)

    async def _order_end(self, code_hash: str, outcome: str, order_id: str, buyer: int | None) -> None:
        if buyer is None and outcome == "paid":
            order = await self.orders.find(order_id)
            buyer = order.user_id if order else None
        result = await self.state.order_end(code_hash, outcome, order_id, buyer)
        if result[0] == b"missing" and await self.rebuild(code_hash):
            result = await self.state.order_end(code_hash, outcome, order_id, buyer)
        if result[0] == b"conflict":
            log.error("F-code used by two orders: order %s was paid, the code is %s elsewhere",
                      order_id, result[1].decode())
        self.sync.schedule(code_hash)

    async def rebuild(self, code_hash: str) -> bool:
        """Redis lost (or never had) this code: load it from the record. One SQL read."""
        async with self.sessions() as session:
            row = await FcodeRepository(session).by_hash(code_hash)
        if row is None:
            return False
        log.info("F-code state rebuilt from SQL")
        await self.state.load([row])
        return True

    async def _heal(self, code_hash: str, order_id: str) -> bool:
        """A code reserved for an order that ended without telling us (a crash, a lost call) is set
        right from the order's own state; returns True when the code may be available again."""
        order = await self.orders.find(order_id)
        if order is None:
            return False
        status = order.status
        if status in ("expired", "cancelled"):
            await self._order_end(code_hash, "released", order_id, None)
            return True
        if status == "paid":
            await self._order_end(code_hash, "paid", order_id, order.user_id)
        return False

