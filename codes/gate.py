"""The F-code gate on the purchase path (sale.hooks.FcodeGate): lease, confirm or release.

lease is one Redis round trip (failure counters and the lease script, pipelined); confirm and
release_lease one each. No SQL on the purchase path except one read when Redis lacks a code
(after the attempt limit was checked), and the record's catch-up runs off the request (sync.py).
"""
from __future__ import annotations

import logging
import secrets
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codes.crypto import CodeCrypto
from codes.exceptions import FcodeInvalid
from codes.format import MalformedCode, canonical
from codes.repository import FcodeRepository
from codes.state import CodeState
from codes.sync import CodeSync
from core.errors import RateLimited
from core.ids import parse_id
from core.ratelimit import FailureLimiter
from core.runtime import Runtime
from sale.repository import OrderRepository, row_event

log = logging.getLogger("flashsale.fcodes")
LEASE_MS = 10_000
# The lease of the purchase running in this task: (code hash, lease token, buyer). The protocol
# passes only the hash to confirm/release, and a task runs one purchase at a time.
_LEASE: ContextVar[tuple[str, str, int] | None] = ContextVar("fcode_lease", default=None)


class Gate:
    def __init__(self, runtime: Runtime, crypto: CodeCrypto, state: CodeState, sync: CodeSync) -> None:
        self.runtime = runtime
        self.crypto = crypto
        self.state = state
        self.sync = sync
        settings = runtime.settings
        self.limiter = FailureLimiter(runtime.redis, limit=settings.fcode_max_failures,
                                      window_seconds=settings.fcode_failure_window_seconds)

    def _counters(self, user_id: int, client: str) -> list[str]:
        keys = self.runtime.keys
        return [keys.fcode_failures("user", str(user_id)), keys.fcode_failures("addr", client)]

    async def _refuse(self, counters: list[str], detail: str | None = None) -> FcodeInvalid:
        await self.limiter.record_failure(counters)
        return FcodeInvalid(detail)

    def _retry_after(self, replies: list[Any]) -> int | None:
        """Seconds to wait when any counter (GET, TTL pairs) reached the limit, else None."""
        for count, ttl in zip(replies[0::2], replies[1::2], strict=True):
            if count is not None and int(count) >= self.limiter.limit:
                return int(ttl) if ttl and int(ttl) > 0 else self.limiter.window
        return None

    async def lease(self, code: str, user_id: int, drop_id: int, sku: str, client: str) -> str:
        counters = self._counters(user_id, client)
        try:
            code_hash = self.crypto.lookup_hash(canonical(code))
        except MalformedCode as exc:
            await self.limiter.check(counters)  # the limit comes first, typo or not
            raise await self._refuse(counters, exc.problem.value) from None
        token = secrets.token_hex(8)
        replies, result = await self.state.lease(code_hash, user_id, sku, token, LEASE_MS, counters)
        wait = self._retry_after(replies)
        if wait is not None:
            if result[0] == b"ok":
                await self.state.unlease(code_hash, token)
            raise RateLimited(wait, "Too many failed F-code attempts; try again later")
        outcome = result[0].decode()
        if outcome == "missing" and await self.rebuild(code_hash):
            result = await self.state.lease_again(code_hash, user_id, sku, token, LEASE_MS)
            outcome = result[0].decode()
        if outcome == "used":
            status, order_id, buyer = (part.decode() for part in result[1:4])
            if status == "reserved" and await self._heal(code_hash, order_id):
                result = await self.state.lease_again(code_hash, user_id, sku, token, LEASE_MS)
                outcome = result[0].decode()
            elif buyer == str(user_id):
                # The buyer's own live order holds the code: most likely a retry. With the same
                # Idempotency-Key the purchase answers that order; without, its new unit conflicts
                # on confirm and goes back. No lease: nothing to confirm or release.
                _LEASE.set(None)
                return code_hash
        if outcome != "ok":
            raise await self._refuse(counters)
        _LEASE.set((code_hash, token, user_id))
        return code_hash

    def _take_lease(self, code_hash: str) -> tuple[str, int | None]:
        held = _LEASE.get()
        if held is None or held[0] != code_hash:
            return "", None
        _LEASE.set(None)
        return held[1], held[2]

    async def confirm(self, code_hash: str, order_id: str) -> None:
        token, buyer = self._take_lease(code_hash)
        result = await self.state.confirm(code_hash, order_id, token, buyer)
        if result[0] == b"missing" and await self.rebuild(code_hash):
            result = await self.state.confirm(code_hash, order_id, token, buyer)
        self.sync.schedule(code_hash)
        if result[0] != b"ok":
            # The lease ran out under a slow purchase and another order took the code first:
            # this order's unit goes back, so one code never buys two units.
            log.warning("F-code conflict on confirm (%s); order %s gives its unit back",
                        result[-1].decode(), order_id)
            await self._give_back(order_id)
            raise FcodeInvalid()

    async def release_lease(self, code_hash: str) -> None:
        token, _ = self._take_lease(code_hash)
        if token:
            await self.state.unlease(code_hash, token)

    async def order_released(self, code_hash: str, order_id: str) -> None:
        await self._order_end(code_hash, "released", order_id, None)

    async def order_paid(self, session: AsyncSession, code_hash: str, order_id: str) -> None:
        # The record follows off the request (sync.py), like every other change of the code.
        await self._order_end(code_hash, "paid", order_id, None)

    async def _order_end(self, code_hash: str, outcome: str, order_id: str, buyer: int | None) -> None:
        if buyer is None and outcome == "paid":
            order = await self._order(order_id)
            buyer = int(order["user_id"]) if order else None
        result = await self.state.order_end(code_hash, outcome, order_id, buyer)
        if result[0] == b"missing" and await self.rebuild(code_hash):
            result = await self.state.order_end(code_hash, outcome, order_id, buyer)
        if result[0] == b"conflict":
            log.error("F-code used by two orders: order %s was paid, the code is %s elsewhere",
                      order_id, result[1].decode())
        self.sync.schedule(code_hash)

    async def rebuild(self, code_hash: str) -> bool:
        """Redis lost (or never had) this code: load it from the record. One SQL read."""
        async with self.runtime.sessions() as session:
            row = await FcodeRepository(session).by_hash(code_hash)
        if row is None:
            return False
        log.info("F-code state rebuilt from SQL")
        await self.state.load([row])
        return True

    async def _order(self, order_id: str) -> dict[str, Any] | None:
        head, _, _ = order_id.partition("-")
        drop_id = parse_id(head)
        if drop_id is None:
            return None
        sale = self.runtime.services.get("sale")
        if sale is not None:
            live: dict[str, Any] | None = await sale.inventory.order(drop_id, order_id)
            if live is not None:
                return live
        async with self.runtime.sessions() as session:
            row = await OrderRepository(session).get(order_id)
        return row_event(row) if row is not None else None

    async def _heal(self, code_hash: str, order_id: str) -> bool:
        """A code reserved for an order that ended without telling us (a crash, a lost call) is set
        right from the order's own state; returns True when the code may be available again."""
        order = await self._order(order_id)
        if order is None:
            return False
        status = order["status"]
        if status in ("expired", "cancelled"):
            await self._order_end(code_hash, "released", order_id, None)
            return True
        if status == "paid":
            await self._order_end(code_hash, "paid", order_id, int(order["user_id"]))
        return False

    async def _give_back(self, order_id: str) -> None:
        order = await self._order(order_id)
        sale = self.runtime.services.get("sale")
        if order is None or sale is None:
            return
        state, _ = await sale.inventory.cancel(int(order["drop_id"]), order_id, int(order["user_id"]))
        log.info("order %s given back: %s", order_id, state)
