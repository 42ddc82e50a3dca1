"""Drops and the purchase path. The purchase path touches Redis once and the database never."""
from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import as_utc, iso_ms
from core.errors import DomainError, RateLimited, ServiceUnavailable, ValidationFailed
from core.metrics import PURCHASES
from core.runtime import Runtime
from core.settings import Settings
from sale.exceptions import PURCHASE_REFUSALS, BadDrop, DropNotFound, SoldOut, parse_drop_id
from sale.failover import FailoverRebuild
from sale.hooks import FcodeGate, ShareLinks
from sale.inventory import Inventory, PurchaseResult
from sale.models import Drop
from sale.repository import DropRepository, OrderRepository, row_event
from sale.schedule import next_weekly_slot
from sale.schemas import DropCreate, DropOut, Phase, StatsOut

log = logging.getLogger("flashsale.sale")
SOLD_OUT_FLAG_SECONDS = 0.5
# Refusal codes of the script that the client sees under another contract code.
CLIENT_CODES = {"quantity_over_limit": "validation_error", "fcode_quantity": "validation_error"}
MAX_QUANTITY = 1_000_000


def phase_of(drop: Drop, remaining: int, now: datetime) -> Phase:
    if now < as_utc(drop.priority_starts_at):
        return "upcoming"
    if now >= as_utc(drop.ends_at):
        return "ended"
    if remaining <= 0:
        return "sold_out"
    return "priority" if now < as_utc(drop.starts_at) else "open"


def drop_out(drop: Drop, remaining: int, now: datetime) -> DropOut:
    assert drop.id is not None
    starts, priority = as_utc(drop.starts_at), as_utc(drop.priority_starts_at)
    return DropOut(id=drop.id, sku=drop.sku, name=drop.name, price_cents=drop.price_cents, currency=drop.currency,
                   stock=drop.stock, starts_at=starts, ends_at=as_utc(drop.ends_at), priority_starts_at=priority,
                   priority_minutes=int((starts - priority).total_seconds() // 60),
                   per_user_limit=drop.per_user_limit, pay_window_seconds=drop.pay_window_seconds,
                   remaining=remaining, phase=phase_of(drop, remaining, now))


def new_drop(body: DropCreate, settings: Settings, now: datetime) -> Drop:
    starts = body.starts_at.astimezone(UTC) if body.starts_at else next_weekly_slot(
        now, settings.weekday_index, settings.drop_time, settings.zone)
    ends = body.ends_at.astimezone(UTC) if body.ends_at else starts + timedelta(hours=1)
    if ends <= starts:
        raise BadDrop("ends_at must be after starts_at")
    if ends <= now:
        raise BadDrop("ends_at is in the past")
    return Drop(sku=body.sku, name=body.name, price_cents=body.price_cents, currency=body.currency,
                stock=body.stock, starts_at=starts, ends_at=ends,
                priority_starts_at=starts - timedelta(minutes=body.priority_minutes),
                per_user_limit=body.per_user_limit, pay_window_seconds=body.pay_window_seconds)


def order_bytes(order: dict[str, Any], share_url: str | None = None) -> bytes:
    """The contract's order from the live (Redis) JSON of an order."""
    status = order["status"]
    return orjson.dumps({
        "id": order["id"], "drop_id": order["drop_id"], "sku": order["sku"], "quantity": order["quantity"],
        "amount_cents": order["amount_cents"], "currency": order["currency"],
        "status": "reserved" if status == "paying" else status, "created_at": iso_ms(order["created_ms"]),
        "pay_by": iso_ms(order["pay_by_ms"]), "paid_at": iso_ms(order.get("paid_ms")), "share_url": share_url,
    })


def parse_purchase(body: bytes) -> tuple[int, str, str]:
    """quantity, F-code, ref from the raw body; anything malformed is a 422 problem."""
    if not body.strip():
        return 1, "", ""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("The body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("The body must be a JSON object")
    unknown = set(data) - {"quantity", "fcode", "ref"}
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))[:200]}")
    quantity = data.get("quantity", 1)
    if type(quantity) is not int or not 1 <= quantity <= MAX_QUANTITY:
        raise ValidationFailed("quantity must be a whole number of at least 1",
                               extra={"errors": [{"loc": ["body", "quantity"], "msg": "must be an integer >= 1"}]})
    fcode, ref = data.get("fcode") or "", data.get("ref") or ""
    if not isinstance(fcode, str) or len(fcode) > 64:
        raise ValidationFailed("fcode must be a string of at most 64 characters")
    if not isinstance(ref, str) or len(ref) > 128:
        raise ValidationFailed("ref must be a string of at most 128 characters")
    return quantity, fcode, ref


class SaleService:
    def __init__(self, runtime: Runtime, inventory: Inventory) -> None:
        self.runtime = runtime
        self.inventory = inventory
        self.settings = runtime.settings
        self._sold_out_until: dict[int, float] = {}
        self._local_rejects: Counter[int] = Counter()
        self._load_locks: dict[int, asyncio.Lock] = {}
        self._sku: dict[int, str] = {}
        self._outcomes: dict[str, Any] = {}
        self.failover = FailoverRebuild(runtime, self.load)

    @property
    def fcodes(self) -> FcodeGate | None:
        gate: FcodeGate | None = self.runtime.services.get("fcodes")
        return gate

    @property
    def share(self) -> ShareLinks | None:
        links: ShareLinks | None = self.runtime.services.get("share")
        return links

    # -- drops ---------------------------------------------------------------------------------
    async def create_drop(self, session: AsyncSession, body: DropCreate) -> DropOut:
        now = datetime.now(UTC)
        drop = await DropRepository(session).add(new_drop(body, self.settings, now))
        # Redis learns of the drop from the database once committed (first use, or the sweeper's check).
        return drop_out(drop, drop.stock, now)

    async def _remaining(self, drops: list[Drop]) -> list[int]:
        counters = await self.inventory.counters([d.id for d in drops if d.id is not None])
        out = []
        for drop, inv in zip(drops, counters, strict=True):
            if b"remaining" in inv:
                out.append(int(inv[b"remaining"]))
            else:
                loaded = await self.load(drop)
                out.append(loaded if loaded is not None else drop.stock)
        return out

    async def list_drops(self, session: AsyncSession) -> list[DropOut]:
        now = datetime.now(UTC)
        drops = await DropRepository(session).not_ended(now)
        return [drop_out(d, r, now) for d, r in zip(drops, await self._remaining(drops), strict=True)]

    async def get_drop(self, session: AsyncSession, drop_id: int) -> DropOut:
        drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        return drop_out(drop, (await self._remaining([drop]))[0], datetime.now(UTC))

    async def stats(self, session: AsyncSession, drop_id: int) -> StatsOut:
        drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        inv, rejected, orders = await self.inventory.stats(drop_id)
        if b"remaining" not in inv:
            await self.load(drop)
            inv, rejected, orders = await self.inventory.stats(drop_id)
        counts: Counter[str] = Counter()
        for code, count in rejected.items():
            counts[CLIENT_CODES.get(code.decode(), code.decode())] += int(count)

        def num(name: str) -> int:
            return int(inv.get(name.encode(), 0))

        # Derived, not counted on the purchase path: every unit is remaining, reserved or paid, and
        # every attempt made an order or a refusal.
        reserved = num("stock") - num("remaining") - num("paid")
        sold_out_ms = inv.get(b"sold_out_at")
        return StatsOut(drop_id=drop_id, stock=num("stock"), remaining=num("remaining"), reserved=reserved,
                        paid=num("paid"), expired=num("expired"), cancelled=num("cancelled"),
                        attempts=orders + sum(counts.values()), rejected=dict(counts),
                        sold_out_at=datetime.fromtimestamp(int(sold_out_ms) / 1000, UTC) if sold_out_ms else None,
                        phase=phase_of(drop, num("remaining"), datetime.now(UTC)))

    async def stats_events(self, drop_id: int, interval: float = 1.0) -> AsyncIterator[bytes]:
        """Server-Sent Events for the operator's dashboard: the drop's stats every `interval` seconds."""
        while True:
            async with self.runtime.sessions() as session:
                stats = await self.stats(session, drop_id)
            yield b"data: " + stats.model_dump_json().encode() + b"\n\n"
            await asyncio.sleep(interval)

    async def load(self, drop: Drop, *, merge: bool = False) -> int | None:
        """Builds the drop's Redis state from SQL (once per process at a time); returns remaining."""
        assert drop.id is not None
        lock = self._load_locks.setdefault(drop.id, asyncio.Lock())
        async with lock, self.runtime.sessions() as session:
            orders = await OrderRepository(session).for_drop(drop.id)
        loaded = await self.inventory.load(drop, [orjson.dumps(row_event(o)) for o in orders], merge=merge)
        await self.ensure_group(drop.id)
        self._sku[drop.id] = drop.sku
        if loaded is not None:
            log.info("drop %s state %s from SQL: remaining=%s", drop.id, "merged" if merge else "built", loaded[0])
            return loaded[0]
        inv = (await self.inventory.counters([drop.id]))[0]
        return int(inv.get(b"remaining", drop.stock))

    async def load_by_id(self, drop_id: int) -> Drop:
        async with self.runtime.sessions() as session:
            drop = await DropRepository(session).get(drop_id)
        if drop is None:
            raise DropNotFound()
        await self.load(drop)
        return drop

    async def ensure_group(self, drop_id: int) -> None:
        from sale.sink import ensure_group

        await ensure_group(self.runtime, drop_id)

    # -- the purchase path ---------------------------------------------------------------------
    async def purchase(self, drop_id_text: str, authorization: str | None, body: bytes,
                       idempotency_key: str | None, ref_cookie: str | None, client: str) -> tuple[int, bytes]:
        claims = self.runtime.tokens.from_header(authorization)
        drop_id = parse_drop_id(drop_id_text)
        quantity, fcode, ref = parse_purchase(body)
        if idempotency_key is not None and not (0 < len(idempotency_key) <= 200 and idempotency_key.isprintable()):
            raise ValidationFailed("Idempotency-Key must be 1 to 200 printable characters")
        if idempotency_key is None and self._sold_out_until.get(drop_id, 0.0) > time.monotonic():
            self._local_rejects[drop_id] += 1
            self._count("sold_out")
            raise SoldOut()
        fcode_hash = ""
        gate = self.fcodes
        if fcode:
            if gate is None:
                raise PURCHASE_REFUSALS["not_open"]()
            sku = self._sku.get(drop_id) or (await self.load_by_id(drop_id)).sku
            fcode_hash = await gate.lease(fcode, claims.user_id, drop_id, sku, client)
        referral = self.share.referral(ref or None, ref_cookie) if (ref or ref_cookie) and self.share else ""
        order_id = f"{drop_id}-{secrets.token_hex(10)}"
        body_hash = f"{quantity}:{fcode_hash}"
        try:
            result = await self._purchase_once(drop_id, claims.user_id, quantity, order_id, body_hash,
                                               idempotency_key, fcode_hash, referral)
        except BaseException:
            if fcode_hash and gate is not None:
                await gate.release_lease(fcode_hash)
            raise
        if fcode_hash and gate is not None:
            if result.outcome == "ok":
                await gate.confirm(fcode_hash, order_id)
            else:
                await gate.release_lease(fcode_hash)
        self._count(result.outcome)
        if result.outcome in ("ok", "dup"):
            assert result.order is not None
            return 201, order_bytes(orjson.loads(result.order))
        raise self._refusal(drop_id, result)

    def _count(self, outcome: str) -> None:
        counter = self._outcomes.get(outcome)
        if counter is None:
            counter = self._outcomes[outcome] = PURCHASES.labels(outcome)
        counter.inc()

    async def _purchase_once(self, drop_id: int, user_id: int, quantity: int, order_id: str, body_hash: str,
                             idempotency_key: str | None, fcode_hash: str, referral: str) -> PurchaseResult:
        for _ in range(2):
            result = await self.inventory.purchase(drop_id, user_id, quantity, order_id, body_hash,
                                                   idempotency_key, fcode_hash, referral,
                                                   self.settings.purchase_rate_per_second)
            if result.outcome == "fenced":
                self.failover.rebuild_soon(drop_id)
                raise ServiceUnavailable(math.ceil(self.settings.failover_settle_seconds) + 1,
                                         "This drop is being checked after a storage failover; retry shortly.")
            if result.outcome != "missing":
                return result
            await self.load_by_id(drop_id)  # raises drop_not_found for an unknown drop
        raise DropNotFound()

    def _refusal(self, drop_id: int, result: PurchaseResult) -> DomainError:
        code = result.outcome
        if code == "sold_out" and result.remaining == 0:
            self._sold_out_until[drop_id] = time.monotonic() + SOLD_OUT_FLAG_SECONDS
        if code == "rate_limited":
            return RateLimited(1)
        if code == "quantity_over_limit":
            return ValidationFailed("quantity is over this drop's per-buyer limit")
        if code == "fcode_quantity":
            return ValidationFailed("An F-code buys exactly one unit")
        return PURCHASE_REFUSALS[code]()

    async def flush_local_counts(self) -> None:
        """Adds the sold-out answers given from the in-process flag to the drop's stats."""
        if not self._local_rejects:
            return
        pending, self._local_rejects = self._local_rejects, Counter()
        async with self.runtime.redis.pipeline(transaction=False) as pipe:
            for drop_id, count in pending.items():
                pipe.hincrby(self.runtime.keys.drop(drop_id).rejected, "sold_out", count)
            await pipe.execute()
