"""The inventory gate: thin wrappers over the drop's Lua scripts (one round trip each)."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from accounts.addresses.schemas import Shipping
from core.clock import Clock, ms
from core.errors import ServiceUnavailable
from core.keys import DropKeys, Keys
from core.metrics import UNREPLICATED
from core.redis import LuaScript, RedisClient, ScriptArg, ScriptRegistry
from sale.batching import PurchaseBatcher
from sale.live_order import LiveOrder
from sale.models import Drop
from sale.purchase_script import FENCED, Purchase, PurchaseReply

log = logging.getLogger("flashsale.inventory")

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
PAYMENT_LEASE_MS = 60_000
CLOSE_RETRY_MS = 5_000  # an order whose payment is being closed at its provider is looked at again after this


@dataclass(frozen=True, slots=True)
class SaleScripts:
    """The sale's Lua scripts (sale/lua), registered once and handed to the inventory (the drop's
    scripts), the failover rebuild (unlock) and the catalog (catalog_sync)."""

    purchase: LuaScript
    pay_hold: LuaScript
    pay_settle: LuaScript
    release: LuaScript
    load: LuaScript
    unlock: LuaScript
    catalog_sync: LuaScript
    pay_begin: LuaScript
    pay_record: LuaScript
    pay_event: LuaScript
    refund: LuaScript


def register_scripts(scripts: ScriptRegistry) -> SaleScripts:
    return SaleScripts(*(scripts.add("sale.lua", f"{name}.lua")
                         for name in ("purchase", "pay_hold", "pay_settle", "release", "load", "unlock",
                                      "catalog_sync", "pay_begin", "pay_record", "pay_event", "refund")))


def drop_json(drop: Drop) -> bytes:
    assert drop.id is not None
    return orjson.dumps({
        "id": drop.id, "sku": drop.sku, "currency": drop.currency, "price_cents": drop.price_cents,
        "stock": drop.stock, "priority_starts_at": ms(drop.priority_starts_at), "starts_at": ms(drop.starts_at),
        "ends_at": ms(drop.ends_at), "per_user_limit": drop.per_user_limit,
        "pay_window_ms": drop.pay_window_seconds * 1000, "waiting_room": int(drop.waiting_room),
        "queue_opens_at": ms(drop.starts_at) - drop.prequeue_minutes * 60_000,
        "admit_per_second": drop.admit_per_second, "challenge": int(drop.challenge),
        "paused": int(drop.paused), "notice": drop.notice or "", "wl_hold_ms": drop.waitlist_hold_minutes * 60_000,
        "shipping_required": int(drop.shipping_required),
        "draw": int(drop.mode == "draw"),
        "entries_open_ms": ms(drop.entries_open_at) if drop.entries_open_at else 0,
        "entries_close_ms": ms(drop.entries_close_at) if drop.entries_close_at else 0,
        "variants": [{"sku": v["sku"], "stock": v["stock"], "price_cents": v["price_cents"]}
                     for v in drop.variants or ()],
    })


@dataclass(frozen=True, slots=True)
class LiveDrop:
    """What a drop's Redis state says now beyond the catalog: units left and the operator's controls."""

    remaining: int
    paused: bool = False
    notice: str = ""


class DropFenced(ServiceUnavailable):
    """A drop script found the drop's state stamped by another Redis server process (a failover or a
    restart): nothing changed; the failover rebuild (sale/failover.py) merges SQL back in first."""

    def __init__(self, drop_id: int) -> None:
        super().__init__(detail="This drop is being checked after a storage failover; retry shortly.", retry_after=2)
        self.drop_id = drop_id


@dataclass(frozen=True, slots=True)
class PurchaseLimits:
    """Settings every purchase of a batch shares (purchase.lua's first arguments)."""

    rate_per_second: int


class Inventory:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: SaleScripts, clock: Clock, limits: PurchaseLimits,
                 *, payment_lease_ms: int = PAYMENT_LEASE_MS, wait_replicas: int = 0,
                 wait_timeout_ms: int = 200) -> None:
        self.redis = redis
        self.keys = keys
        self.clock = clock
        self.limits = limits
        self.payment_lease_ms = payment_lease_ms
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._purchase = scripts.purchase
        self._hold = scripts.pay_hold
        self._settle = scripts.pay_settle
        self._release = scripts.release
        self._load = scripts.load
        self._pay_begin = scripts.pay_begin
        self._pay_record = scripts.pay_record
        self._pay_event = scripts.pay_event
        self._refund = scripts.refund
        self._batcher: PurchaseBatcher[Purchase, PurchaseReply] = PurchaseBatcher(self._purchase_batch)

    async def purchase(self, purchase: Purchase) -> PurchaseReply:
        """Sends the purchase with the others of its drop in flight (sale/batching.py)."""
        return await self._batcher.submit(purchase.request.drop_id, purchase)

    async def _purchase_batch(self, drop_id: int, purchases: list[Purchase]) -> list[PurchaseReply]:
        k = self.keys.drop(drop_id)
        idem = k.idem_prefix
        keys = (k.inv, k.users, k.orders, k.deadlines, k.stream, k.rejected, k.admitted, k.tickets,
                k.queue, k.draw_results, k.draw_due, k.waitlist_holds,
                *(f"{idem}{p.request.user_id}:{p.request.idempotency_key or ''}" for p in purchases))
        # One drop per batch, so one per-address cap (the service's decision, see sale/address_cap.py).
        args: list[ScriptArg] = [self.clock.now_ms(), self.limits.rate_per_second, IDEMPOTENCY_TTL_SECONDS,
                                 purchases[0].address_cap]
        for purchase in purchases:
            args.extend(purchase.args())
        if self.wait_replicas > 0:
            reply, acknowledged = await self._purchase.call_and_wait(self.redis, keys, args, self.wait_replicas,
                                                                     self.wait_timeout_ms)
            if acknowledged < self.wait_replicas:
                UNREPLICATED.inc(len(purchases))
                log.warning("purchase writes of drop %s reached %d of %d replicas in %d ms", drop_id,
                            acknowledged, self.wait_replicas, self.wait_timeout_ms)
        else:
            reply = await self._purchase(self.redis, keys, args)
        if reply and reply[0] == b"fenced":
            return [FENCED] * len(purchases)
        return [PurchaseReply.decode(raw) for raw in reply]

    async def count_sold_out(self, answered: Mapping[int, int]) -> None:
        """Adds sold-out answers given without a script call (a worker's local flag) to drops' refusals."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id, count in answered.items():
                pipe.hincrby(self.keys.drop(drop_id).rejected, "sold_out", count)
            await pipe.execute()

    async def hold_payment(self, drop_id: int, order_id: str, user_id: int,
                           shipping: Shipping | None = None) -> tuple[str, LiveOrder | None]:
        """pay_hold.lua: the order held for the test provider's charge, with the address it ships to."""
        k = self.keys.drop(drop_id)
        result = await self._hold(self.redis, (k.inv, k.orders, k.deadlines),
                                  (order_id, str(user_id), self.clock.now_ms(), self.payment_lease_ms,
                                   _ship_arg(shipping)))
        return _state(drop_id, result)

    async def settle_payment(self, drop_id: int, order_id: str, paid: bool, reference: str,
                             share_token: str = "") -> tuple[str, LiveOrder | None]:
        k = self.keys.drop(drop_id)
        result = await self._settle(self.redis, (k.inv, k.orders, k.deadlines, k.stream, k.users, k.refunds_due),
                                    (order_id, "paid" if paid else "declined", self.clock.now_ms(), reference,
                                     share_token))
        return _state(drop_id, result)

    async def record_refund(self, drop_id: int, order_id: str, reference: str) -> tuple[str, LiveOrder | None]:
        k = self.keys.drop(drop_id)
        result = await self._settle(self.redis, (k.inv, k.orders, k.deadlines, k.stream, k.users, k.refunds_due),
                                    (order_id, "refunded", self.clock.now_ms(), reference, ""))
        return _state(drop_id, result)

    async def refunds_due(self, drop_id: int, due_before_ms: int, batch: int = 100) -> list[LiveOrder]:
        """Orders whose late charge was due for a refund before `due_before_ms` and is not refunded yet."""
        k = self.keys.drop(drop_id)
        ids: list[bytes] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            k.refunds_due, "-inf", due_before_ms, start=0, num=batch)
        if not ids:
            return []
        found = await self.redis.hmget(k.orders, ids)
        return [LiveOrder.decode(raw) for raw in found if raw]

    async def begin_payment(self, drop_id: int, order_id: str, user_id: int, provider: str,
                            *, replace: bool = False, shipping: Shipping | None = None) -> tuple[str, LiveOrder | None]:
        """pay_begin.lua: an asynchronous provider's payment begun (or found) on a reserved order."""
        k = self.keys.drop(drop_id)
        result = await self._pay_begin(self.redis, (k.inv, k.orders),
                                       (order_id, str(user_id), self.clock.now_ms(), provider,
                                        "replace" if replace else "", _ship_arg(shipping)))
        return _state(drop_id, result)

    async def record_payment(self, drop_id: int, order_id: str, provider: str, attempt: int, intent: str,
                             client: str) -> tuple[str, LiveOrder | None]:
        """pay_record.lua: the provider's intent and what the front end completes it with."""
        k = self.keys.drop(drop_id)
        result = await self._pay_record(self.redis, (k.orders, k.stream),
                                        (order_id, provider, attempt, intent, client))
        return _state(drop_id, result)

    async def payment_event(self, drop_id: int, order_id: str, kind: str, intent: str, share_token: str = "",
                            notice: tuple[str, str] = ("", "")) -> tuple[str, LiveOrder | None]:
        """pay_event.lua: a provider's verified notice (succeeded, failed, canceled) applied, and with
        `notice` (provider, event id) recorded, once."""
        k = self.keys.drop(drop_id)
        result = await self._pay_event(
            self.redis, (k.inv, k.orders, k.deadlines, k.stream, k.users, k.refunds_due, k.notices),
            (order_id, kind, self.clock.now_ms(), intent, share_token, *notice))
        return _state(drop_id, result)

    async def refund_paid(self, drop_id: int, order_id: str, reference: str) -> tuple[str, LiveOrder | None]:
        """refund.lua: a paid order refunded at its provider; units back to stock while the drop is open."""
        k = self.keys.drop(drop_id)
        result = await self._refund(self.redis, (k.inv, k.users, k.orders, k.stream),
                                    (order_id, self.clock.now_ms(), reference))
        return _state(drop_id, result)

    async def cancel(self, drop_id: int, order_id: str, user_id: int,
                     *, payment_closed: bool = False) -> tuple[str, LiveOrder | None]:
        k = self.keys.drop(drop_id)
        result = await self._release(self.redis, _release_keys(k),
                                     ("cancel", self.clock.now_ms(), order_id, str(user_id),
                                      "closed" if payment_closed else ""))
        return _state(drop_id, result)

    async def expire_due(self, drop_id: int, batch: int = 500) -> tuple[list[LiveOrder], list[LiveOrder]]:
        """Orders past their deadline: those expired now (units back), and those whose provider payment
        must be closed first (looked at again in CLOSE_RETRY_MS)."""
        k = self.keys.drop(drop_id)
        result = await self._release(self.redis, _release_keys(k),
                                     ("expire", self.clock.now_ms(), batch, CLOSE_RETRY_MS))
        if result and result[0] == b"fenced":
            raise DropFenced(drop_id)
        expired, closing = result
        return [LiveOrder.decode(raw) for raw in expired], [LiveOrder.decode(raw) for raw in closing]

    async def load(self, drop: Drop, orders: list[bytes], *, merge: bool) -> list[int] | None:
        """Builds (init) or repairs (merge) the drop's state; None when init found it present."""
        assert drop.id is not None
        k = self.keys.drop(drop.id)
        result = await self._load(self.redis, (k.inv, k.users, k.orders, k.deadlines, k.refunds_due),
                                  (drop_json(drop), "merge" if merge else "init", *orders))
        if result[0] == b"exists":
            return None
        await self.redis.sadd(self.keys.active_drops, str(drop.id))
        return [int(x) for x in result[1:]]

    async def order(self, drop_id: int, order_id: str) -> LiveOrder | None:
        raw = await self.redis.hget(self.keys.drop(drop_id).orders, order_id)
        return LiveOrder.decode(raw) if raw else None

    async def counters(self, drop_ids: list[int]) -> list[dict[bytes, bytes]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id in drop_ids:
                pipe.hgetall(self.keys.drop(drop_id).inv)
            return list(await pipe.execute())

    async def live(self, drop_ids: list[int]) -> list[LiveDrop | None]:
        """Units anyone may buy (those held for or kept for the waitlist left out: purchase.lua's rule),
        paused and notice per drop (one round trip); None where Redis holds no state."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id in drop_ids:
                pipe.hmget(self.keys.drop(drop_id).inv, "remaining", "paused", "notice", "wl_held", "wl_waiting")
            found = await pipe.execute()
        return [None if remaining is None else
                LiveDrop(max(0, int(remaining) - int(held or 0) - int(waiting or 0)), paused == b"1",
                         (notice or b"").decode())
                for remaining, paused, notice, held, waiting in found]

    async def variants_left(self, drops: list[Drop]) -> dict[int, dict[str, int]]:
        """Each variant's units left, for the drops that have variants (one round trip)."""
        wanted = [(d.id, [str(v["sku"]) for v in d.variants]) for d in drops if d.variants and d.id is not None]
        if not wanted:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id, skus in wanted:
                pipe.hmget(self.keys.drop(drop_id).inv, [f"v:{sku}" for sku in skus])
            replies = await pipe.execute()
        return {drop_id: {sku: int(left) for sku, left in zip(skus, reply, strict=True) if left is not None}
                for (drop_id, skus), reply in zip(wanted, replies, strict=True)}

    async def stats(self, drop_id: int) -> tuple[dict[bytes, bytes], dict[bytes, bytes], int]:
        """The drop's counters, refusals by code, and how many orders it has (successful attempts)."""
        k = self.keys.drop(drop_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.inv)
            pipe.hgetall(k.rejected)
            pipe.hlen(k.orders)
            inv, rejected, orders = await pipe.execute()
        return inv, rejected, int(orders)

    async def stats_with_orders(self, drop_id: int) -> tuple[dict[bytes, bytes], dict[bytes, bytes], int,
                                                             dict[str, LiveOrder]]:
        """`stats` and every order, read at one moment (MULTI, one slot): a variant's counters, summed
        over its orders, then agree with the units left the drop's hash keeps for it."""
        k = self.keys.drop(drop_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k.inv)
            pipe.hgetall(k.rejected)
            pipe.hgetall(k.orders)
            inv, rejected, raw = await pipe.execute()
        orders = {key.decode(): LiveOrder.decode(value) for key, value in raw.items()}
        return inv, rejected, len(orders), orders

    async def all_orders(self, drop_id: int) -> dict[str, LiveOrder]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.drop(drop_id).orders)  # type: ignore[assignment]
        return {key.decode(): LiveOrder.decode(value) for key, value in raw.items()}


def _ship_arg(shipping: Shipping | None) -> bytes:
    return orjson.dumps(shipping.as_dict()) if shipping is not None else b""


def _release_keys(k: DropKeys) -> tuple[str, ...]:
    return (k.inv, k.users, k.orders, k.deadlines, k.stream)


def _state(drop_id: int, result: list[bytes]) -> tuple[str, LiveOrder | None]:
    if result[0] == b"fenced":
        raise DropFenced(drop_id)
    return result[0].decode(), (LiveOrder.decode(result[1]) if len(result) > 1 else None)
