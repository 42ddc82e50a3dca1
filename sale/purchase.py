"""The purchase: the hot path. One Redis round trip for the unit (two more with an F-code), no SQL.

It takes values the route already parsed (drop id, buyer, quantity, F-code, referral, Idempotency-Key,
client address) and never sees headers or bodies.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections import Counter
from typing import Any

from codes.exceptions import FcodeInvalid
from codes.gate import Gate, Lease
from core.errors import DomainError, ServiceUnavailable
from core.metrics import PURCHASES
from core.net import address_block
from core.token_versions import TokenVersions
from sale.address_cap import AddressCaps
from sale.exceptions import DropNotFound, SoldOut, refusal
from sale.failover import FailoverRebuild
from sale.inventory import Inventory
from sale.live_order import LiveOrder
from sale.loader import DropLoader
from sale.purchase_script import Purchase, PurchaseReply, PurchaseRequest
from sale.reserved import ReservationWindow
from sale.share.referral import ReferralSigner

# After a "sold out, nothing left", this process answers sold_out itself for a moment (no Redis call).
SOLD_OUT_FLAG_SECONDS = 0.5
TAG_CACHE_SIZE = 65_536


class AddressTags:
    """A client address as the purchase script counts it: its block (an IPv6 /64), keyed-hashed so
    no address is stored in Redis or the order."""

    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"flashsale/sale/client-address\x00" + secret).digest()
        self._tags: dict[str, str] = {}  # a buyer's retries and its neighbours come from one address

    def tag(self, client: str) -> str:
        tag = self._tags.get(client)
        if tag is None:
            mac = hmac.new(self._key, address_block(client).encode(), hashlib.sha256).digest()
            tag = base64.urlsafe_b64encode(mac[:12]).decode()
            if len(self._tags) >= TAG_CACHE_SIZE:
                self._tags.clear()
            self._tags[client] = tag
        return tag


class PurchaseService:
    def __init__(self, inventory: Inventory, loader: DropLoader, gate: Gate,
                 referrals: ReferralSigner, addresses: AddressTags, address_caps: AddressCaps,
                 versions: TokenVersions, failover: FailoverRebuild, reserved: ReservationWindow) -> None:
        self.failover = failover
        self.reserved = reserved  # the reservation-only window (issue 22)
        self.inventory = inventory
        self.loader = loader
        self.gate = gate
        self.referrals = referrals
        self.addresses = addresses
        self.address_caps = address_caps
        self.versions = versions
        self._sold_out_until: dict[int, float] = {}
        self._local_rejects: Counter[int] = Counter()
        self._outcomes: dict[str, Any] = {}

    async def purchase(self, request: PurchaseRequest) -> bytes:
        """Reserves the units; returns the order's JSON (the same order again for a repeated
        Idempotency-Key) or raises the refusal. A revoked token is refused by this worker's copy of
        the account-wide versions (at most a second old: core/token_versions.py)."""
        drop_id = request.drop_id
        if request.idempotency_key is None and self._sold_out_until.get(drop_id, 0.0) > time.monotonic():
            self._local_rejects[drop_id] += 1
            self._count("sold_out")
            raise SoldOut()
        await self.versions.check_recent(request.user_id, request.token_version)
        await self.reserved.admit(drop_id, request.user_id)
        lease: Lease | None = None
        if request.fcode:
            lease = await self.gate.lease(request.fcode, request.user_id, await self.loader.sku_of(drop_id),
                                          request.client)
        ref, cookie = request.ref, request.ref_cookie
        # The buyer's own order holds this code (a burst's loser, a retry): answer that order for its
        # Idempotency-Key, refuse anything else, and never take a unit it would have to give back.
        answer_only = lease is not None and bool(lease.held_by)
        if answer_only and request.idempotency_key is None:
            raise FcodeInvalid("This F-code is in your order already: pay for it or cancel it")
        purchase = Purchase(request, f"{drop_id}-{secrets.token_hex(10)}",
                            fcode_hash=lease.code_hash if lease is not None else "",
                            referral=self.referrals.referral(ref or None, cookie) if ref or cookie else "",
                            address=self.addresses.tag(request.client), answer_only=answer_only,
                            address_cap=await self.address_caps.of(drop_id))
        try:
            result = await self._take(purchase)
        except BaseException:
            if lease is not None:
                await self.gate.release(lease)
            raise
        if lease is not None:
            if result.outcome == "ok":
                await self.gate.confirm(lease, purchase.order_id)
            else:
                await self.gate.release(lease)
        self._count(result.outcome)
        if result.order is not None:
            return LiveOrder.decode(result.order).api_bytes()
        raise self._refusal(drop_id, result)

    def _count(self, outcome: str) -> None:
        counter = self._outcomes.get(outcome)
        if counter is None:
            counter = self._outcomes[outcome] = PURCHASES.labels(outcome)
        counter.inc()

    async def _take(self, purchase: Purchase) -> PurchaseReply:
        drop_id = purchase.request.drop_id

        async def missing(reply: PurchaseReply) -> bool:
            return reply.outcome == "missing"

        result = await self.loader.retry_missing(drop_id, lambda: self.inventory.purchase(purchase), missing)
        if result.outcome == "fenced":
            self.failover.rebuild_soon(drop_id)
            raise ServiceUnavailable(detail="This drop is being checked after a storage failover; retry shortly.",
                                     retry_after=self.failover.retry_after)
        if result.outcome == "missing":
            raise DropNotFound()
        return result

    def _refusal(self, drop_id: int, result: PurchaseReply) -> DomainError:
        if result.outcome == "sold_out" and result.remaining == 0:
            self._sold_out_until[drop_id] = time.monotonic() + SOLD_OUT_FLAG_SECONDS
        error = refusal(result.outcome)
        if error is None:
            raise RuntimeError(f"unexpected purchase outcome {result.outcome!r}")
        return error

    async def flush_local_counts(self) -> None:
        """Adds the sold-out answers given from the in-process flag to the drop's stats."""
        if not self._local_rejects:
            return
        pending, self._local_rejects = self._local_rejects, Counter()
        await self.inventory.count_sold_out(pending)
