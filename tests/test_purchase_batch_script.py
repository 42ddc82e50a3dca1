"""purchase.lua decides a batch's purchases one by one, in order, exactly as if each came alone, while it
reads the buyers' state once and writes it back once: a buyer, an address or an Idempotency-Key that
appears twice in one batch sees its earlier purchase. Called with one explicit batch, on real Redis."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from sale.batching import PurchaseRequest
from tests.support import create_drop, make_account, make_accounts, runtime_of, services_of

pytestmark = pytest.mark.cluster  # a batch's keys, Idempotency-Keys included, in the drop's slot


def request(drop_id: int, user_id: int, *, idem: str | None = None, address: str = "", version: int = 0,
            quantity: int = 1) -> PurchaseRequest:
    # The Idempotency-Key's Redis key lives in the drop's slot (a Cluster refuses the call otherwise).
    return PurchaseRequest(str(user_id), quantity, f"{drop_id}-{uuid.uuid4().hex[:20]}", f"{quantity}:",
                           b'""', b'""', f"{user_id}:{idem or uuid.uuid4().hex}", idem is not None,
                           1000, version, address, 100, False)


def with_prefix(app: FastAPI, drop_id: int, batch: list[PurchaseRequest]) -> None:
    prefix = runtime_of(app).keys.drop(drop_id).idem_prefix
    for item in batch:
        item.idem_key = prefix + item.idem_key


def outcomes(replies: list[Any]) -> list[str]:
    return [reply[0].decode() for reply in replies]


async def test_one_batch_with_repeated_buyers_addresses_and_keys(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=5, per_user_limit=1)
    drop_id = drop["id"]
    inventory = services_of(app).purchases.inventory
    loader = services_of(app).purchases.loader
    await loader.load_by_id(drop_id)
    a, b, c, d, e = (account.id for account in await make_accounts(app, 5))
    batch = [
        request(drop_id, a, idem="k1"),                 # ok
        request(drop_id, a, idem="k1"),                 # the same key again: that order
        request(drop_id, a),                            # a holds 1 of 1: limit_reached
        request(drop_id, b, address="addrX"),    # ok, addrX holds 1
        request(drop_id, c, address="addrX"),    # ok, addrX holds 2
        request(drop_id, d, address="addrX"),    # addrX at its cap: address_limit
        request(drop_id, d),                            # d from elsewhere: ok
        request(drop_id, e, quantity=2),                # over the per-buyer limit
        request(drop_id, e),                            # ok: the 5th unit
        request(drop_id, operator.id),             # nothing left: sold_out
    ]
    batch[1].idem_key = batch[0].idem_key
    with_prefix(app, drop_id, batch)
    for item in batch:
        item.max_unpaid_per_address = 2  # a setting: the script takes the batch's first
    replies = await inventory._purchase_batch(drop_id, batch)
    assert outcomes(replies) == ["ok", "dup", "limit_reached", "ok", "ok", "address_limit", "ok",
                                 "quantity_over_limit", "ok", "sold_out"]
    assert replies[1][1] == replies[0][1]  # the first order's JSON, though written only at the batch's end

    runtime = runtime_of(app)
    k = runtime.keys.drop(drop_id)
    held = await runtime.redis.hgetall(k.users)
    assert {key: value for key, value in held.items() if not key.startswith(b"r:")} == {
        str(u).encode(): b"1" for u in (a, b, c, d, e)}
    assert await runtime.redis.hget(k.addr_held, "addrX") == b"2"
    inv = await runtime.redis.hgetall(k.inv)
    assert (inv[b"remaining"], inv[b"reserved"]) == (b"0", b"5")
    orders = await runtime.redis.hgetall(k.orders)
    assert len(orders) == 5
    assert {orjson.loads(raw)["user_id"] for raw in orders.values()} == {a, b, c, d, e}
    assert await runtime.redis.zcard(k.deadlines) == 5
    entries = await runtime.redis.xrange(k.stream)
    assert [sorted(fields[b"i"].split(b" ")) for _, fields in entries][-1] == sorted(orders)


async def test_a_revoked_token_and_a_rate_window_within_one_batch(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=10, per_user_limit=5)
    drop_id = drop["id"]
    services = services_of(app)
    await services.purchases.loader.load_by_id(drop_id)
    revoked, buyer = await make_accounts(app, 2)
    await runtime_of(app).versions.bump(revoked.id, 3)
    batch = [request(drop_id, revoked.id, version=2), request(drop_id, revoked.id, version=3)]
    batch += [request(drop_id, buyer.id) for _ in range(4)]
    for item in batch[2:]:
        item.rate_per_second = 3
    batch[0].rate_per_second = batch[1].rate_per_second = 3
    with_prefix(app, drop_id, batch)
    replies = await services.purchases.inventory._purchase_batch(drop_id, batch)
    # Three purchases a second per buyer: the fourth in the same second is refused.
    assert outcomes(replies) == ["token_revoked", "ok", "ok", "ok", "ok", "rate_limited"]
