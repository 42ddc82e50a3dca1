"""The inventory gate: thin wrappers over the drop's Lua scripts (one round trip each)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from core.clock import ms, now_ms
from core.keys import DropKeys, Keys
from core.metrics import UNREPLICATED
from core.redis import RedisClient, ScriptArg, ScriptRegistry
from sale.batching import PurchaseBatcher, PurchaseRequest
from sale.models import Drop

log = logging.getLogger("flashsale.inventory")

SCRIPTS = ("purchase.lua", "pay_hold.lua", "pay_settle.lua", "release.lua", "load.lua")
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
PAYMENT_LEASE_MS = 60_000


def register_scripts(scripts: ScriptRegistry) -> None:
    for name in SCRIPTS:
        scripts.add("sale.lua", name)


def drop_json(drop: Drop) -> bytes:
    assert drop.id is not None
    return orjson.dumps({
        "id": drop.id, "sku": drop.sku, "currency": drop.currency, "price_cents": drop.price_cents,
        "stock": drop.stock, "priority_starts_at": ms(drop.priority_starts_at), "starts_at": ms(drop.starts_at),
        "ends_at": ms(drop.ends_at), "per_user_limit": drop.per_user_limit,
        "pay_window_ms": drop.pay_window_seconds * 1000, "waiting_room": int(drop.waiting_room),
        "queue_opens_at": ms(drop.starts_at) - drop.prequeue_minutes * 60_000,
        "admit_per_second": drop.admit_per_second, "challenge": int(drop.challenge),
    })


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    outcome: str            # "ok", "dup", "missing", "fenced" or a refusal code
    order: bytes | None     # the order JSON from Redis
    remaining: int = -1


class Inventory:
    def __init__(self, redis: RedisClient, keys: Keys, scripts: ScriptRegistry, *,
                 payment_lease_ms: int = PAYMENT_LEASE_MS, wait_replicas: int = 0, wait_timeout_ms: int = 200) -> None:
        self.redis = redis
        self.keys = keys
        self.payment_lease_ms = payment_lease_ms
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._purchase = scripts["purchase"]
        self._hold = scripts["pay_hold"]
        self._settle = scripts["pay_settle"]
        self._release = scripts["release"]
        self._load = scripts["load"]
        self._batcher = PurchaseBatcher(self._purchase_batch)

    async def purchase(self, drop_id: int, user_id: int, quantity: int, order_id: str, body_hash: str,
                       idempotency_key: str | None, fcode_hash: str, ref: str, rate_per_second: int, *,
                       token_version: int = 0, address: str = "", max_unpaid_per_address: int = 0,
                       answer_only: bool = False) -> PurchaseResult:
        """`address` names the client (a keyed tag, "" for none): its reserved-but-unpaid units in
        this drop stay within `max_unpaid_per_address`; `token_version` is the buyer's token's;
        `answer_only` answers a known Idempotency-Key and takes nothing."""
        k = self.keys.drop(drop_id)
        uid = str(user_id)
        request = PurchaseRequest(uid, quantity, order_id, body_hash, orjson.dumps(fcode_hash), orjson.dumps(ref),
                                  k.idem_prefix + uid + ":" + (idempotency_key or ""), idempotency_key is not None,
                                  rate_per_second, token_version, address, max_unpaid_per_address, answer_only)
        result = await self._batcher.submit(drop_id, request)
        outcome = result[0].decode()
        if outcome in ("ok", "dup"):
            return PurchaseResult(outcome, result[1])
        return PurchaseResult(outcome, None, int(result[1]) if len(result) > 1 else -1)

    async def _purchase_batch(self, drop_id: int, requests: list[PurchaseRequest]) -> list[Any]:
        k = self.keys.drop(drop_id)
        keys = (k.inv, k.users, k.orders, k.deadlines, k.stream, k.rejected, k.tokver, k.addr_held, k.admitted,
                k.tickets, k.queue, *(r.idem_key for r in requests))
        first = requests[0]  # the limits are settings: the same for every request
        args: list[ScriptArg] = [now_ms(), first.rate_per_second, IDEMPOTENCY_TTL_SECONDS, first.max_unpaid_per_address]
        for request in requests:
            args.extend(request.args())
        if self.wait_replicas > 0:
            reply, acknowledged = await self._purchase.call_and_wait(self.redis, keys, args, self.wait_replicas,
                                                                     self.wait_timeout_ms)
            if acknowledged < self.wait_replicas:
                UNREPLICATED.inc(len(requests))
                log.warning("purchase writes of drop %s reached %d of %d replicas in %d ms", drop_id,
                            acknowledged, self.wait_replicas, self.wait_timeout_ms)
        else:
            reply = await self._purchase(self.redis, keys, args)
        if reply and reply[0] == b"fenced":
            return [[b"fenced"]] * len(requests)
        replies: list[Any] = reply
        return replies

    async def hold_payment(self, drop_id: int, order_id: str, user_id: int,
                           token_version: int) -> tuple[str, dict[str, Any] | None]:
        k = self.keys.drop(drop_id)
        result = await self._hold(self.redis, (k.orders, k.deadlines, k.tokver),
                                  (order_id, str(user_id), now_ms(), self.payment_lease_ms, token_version))
        return _state(result)

    async def settle_payment(self, drop_id: int, order_id: str, paid: bool, reference: str,
                             share_token: str = "") -> tuple[str, dict[str, Any] | None]:
        k = self.keys.drop(drop_id)
        result = await self._settle(self.redis, (k.inv, k.orders, k.deadlines, k.stream, k.addr_held, k.refunds_due),
                                    (order_id, "paid" if paid else "declined", now_ms(), reference, share_token))
        return _state(result)

    async def record_refund(self, drop_id: int, order_id: str, reference: str) -> tuple[str, dict[str, Any] | None]:
        k = self.keys.drop(drop_id)
        result = await self._settle(self.redis, (k.inv, k.orders, k.deadlines, k.stream, k.addr_held, k.refunds_due),
                                    (order_id, "refunded", now_ms(), reference, ""))
        return _state(result)

    async def refunds_due(self, drop_id: int, due_before_ms: int, batch: int = 100) -> list[dict[str, Any]]:
        """Orders whose late charge was due for a refund before `due_before_ms` and is not refunded yet."""
        k = self.keys.drop(drop_id)
        ids: list[bytes] = await self.redis.zrangebyscore(  # type: ignore[assignment]
            k.refunds_due, "-inf", due_before_ms, start=0, num=batch)
        if not ids:
            return []
        found = await self.redis.hmget(k.orders, ids)
        return [orjson.loads(raw) for raw in found if raw]

    async def cancel(self, drop_id: int, order_id: str, user_id: int) -> tuple[str, dict[str, Any] | None]:
        k = self.keys.drop(drop_id)
        result = await self._release(self.redis, _release_keys(k), ("cancel", now_ms(), order_id, str(user_id)))
        return _state(result)

    async def expire_due(self, drop_id: int, batch: int = 500) -> list[dict[str, Any]]:
        k = self.keys.drop(drop_id)
        result = await self._release(self.redis, _release_keys(k), ("expire", now_ms(), batch))
        return [orjson.loads(raw) for raw in result]

    async def load(self, drop: Drop, orders: list[bytes], *, merge: bool) -> list[int] | None:
        """Builds (init) or repairs (merge) the drop's state; None when init found it present."""
        assert drop.id is not None
        k = self.keys.drop(drop.id)
        result = await self._load(self.redis, (k.inv, k.users, k.orders, k.deadlines, k.addr_held, k.refunds_due),
                                  (drop_json(drop), "merge" if merge else "init", *orders))
        if result[0] == b"exists":
            return None
        await self.redis.sadd(self.keys.active_drops, str(drop.id))
        return [int(x) for x in result[1:]]

    async def set_admit_per_second(self, drop_id: int, admit_per_second: int) -> None:
        """The waiting room's meter uses a changed rate from its next step (if the drop is loaded)."""
        inv = self.keys.drop(drop_id).inv
        if await self.redis.hexists(inv, "remaining"):
            await self.redis.hset(inv, "admit_per_second", admit_per_second)

    async def order(self, drop_id: int, order_id: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(self.keys.drop(drop_id).orders, order_id)
        return orjson.loads(raw) if raw else None

    async def counters(self, drop_ids: list[int]) -> list[dict[bytes, bytes]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id in drop_ids:
                pipe.hgetall(self.keys.drop(drop_id).inv)
            return list(await pipe.execute())

    async def remaining(self, drop_ids: list[int]) -> list[int | None]:
        """Units left per drop; None where Redis holds no state for the drop."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for drop_id in drop_ids:
                pipe.hget(self.keys.drop(drop_id).inv, "remaining")
            return [int(value) if value is not None else None for value in await pipe.execute()]

    async def stats(self, drop_id: int) -> tuple[dict[bytes, bytes], dict[bytes, bytes], int]:
        """The drop's counters, refusals by code, and how many orders it has (successful attempts)."""
        k = self.keys.drop(drop_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k.inv)
            pipe.hgetall(k.rejected)
            pipe.hlen(k.orders)
            inv, rejected, orders = await pipe.execute()
        return inv, rejected, int(orders)

    async def all_orders(self, drop_id: int) -> dict[str, dict[str, Any]]:
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.drop(drop_id).orders)  # type: ignore[assignment]
        return {key.decode(): orjson.loads(value) for key, value in raw.items()}


def _release_keys(k: DropKeys) -> tuple[str, ...]:
    return (k.inv, k.users, k.orders, k.deadlines, k.stream, k.addr_held)


def _state(result: list[bytes]) -> tuple[str, dict[str, Any] | None]:
    return result[0].decode(), (orjson.loads(result[1]) if len(result) > 1 else None)
