"""purchase.lua decides a batch's purchases one by one, in order, exactly as if each came alone, and
writes each sale's effects as it is decided: a buyer, an address or an Idempotency-Key that appears
twice in one batch sees its earlier purchase, and a purchase that raises midway leaves the sales
before it complete. Called with one explicit batch, on real Redis."""
from __future__ import annotations

import dataclasses
import re
import uuid
from importlib import resources

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.exceptions import ResponseError
from sqlalchemy import select
from sqlmodel import col

from sale.inventory import PurchaseLimits
from sale.models import Order
from sale.purchase_script import PURCHASE_FIELDS, Purchase, PurchaseReply, PurchaseRequest
from tests.support import create_drop, eventually, make_account, make_accounts, runtime_of, services_of

pytestmark = pytest.mark.cluster  # a batch's keys, Idempotency-Keys included, in the drop's slot


def request(drop_id: int, user_id: int, *, idem: str | None = None, address: str = "",
            quantity: int = 1, address_cap: int = 100) -> Purchase:
    return Purchase(PurchaseRequest(drop_id, user_id, quantity, 0, idempotency_key=idem or uuid.uuid4().hex),
                    f"{drop_id}-{uuid.uuid4().hex[:20]}", address=address, address_cap=address_cap)


def outcomes(replies: list[PurchaseReply]) -> list[str]:
    return [reply.outcome for reply in replies]


def test_python_and_lua_name_the_same_purchase_fields() -> None:
    source = resources.files("sale.lua").joinpath("purchase.lua").read_text(encoding="utf-8")
    listed = re.search(r"local FIELDS = \{([^}]*)\}", source)
    assert listed is not None
    assert tuple(re.findall(r"'(\w+)'", listed.group(1))) == PURCHASE_FIELDS
    purchase = request(1, 2)
    assert len(purchase.args()) == len(PURCHASE_FIELDS)


async def test_one_batch_with_repeated_buyers_addresses_and_keys(app: FastAPI, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=5, per_user_limit=1)
    drop_id = drop["id"]
    inventory = services_of(app).purchases.inventory
    monkeypatch.setattr(inventory, "limits", PurchaseLimits(1000))  # the session app's: restored after
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
    batch[1] = dataclasses.replace(batch[1], request=batch[0].request)
    batch = [dataclasses.replace(p, address_cap=2) for p in batch]  # the drop's cap: 2 unpaid units per address
    replies = await inventory._purchase_batch(drop_id, batch)
    assert outcomes(replies) == ["ok", "dup", "limit_reached", "ok", "ok", "address_limit", "ok",
                                 "quantity_over_limit", "ok", "sold_out"]
    assert replies[1].order == replies[0].order  # the first order's JSON, written as it was sold

    runtime = runtime_of(app)
    k = runtime.keys.drop(drop_id)
    held = await runtime.redis.hgetall(k.users)
    assert {key: value for key, value in held.items() if not key.startswith((b"r:", b"a:"))} == {
        str(u).encode(): b"1" for u in (a, b, c, d, e)}
    assert await runtime.redis.hget(k.users, "a:addrX") == b"2"
    inv = await runtime.redis.hgetall(k.inv)
    assert (inv[b"remaining"], inv[b"reserved"]) == (b"0", b"5")
    orders = await runtime.redis.hgetall(k.orders)
    assert len(orders) == 5
    assert {orjson.loads(raw)["user_id"] for raw in orders.values()} == {a, b, c, d, e}
    assert await runtime.redis.zcard(k.deadlines) == 5
    entries = await runtime.redis.xrange(k.stream)
    assert [sorted(fields[b"i"].split(b" ")) for _, fields in entries][-1] == sorted(orders)


async def test_a_rate_window_within_one_batch(app: FastAPI, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=10, per_user_limit=5)
    drop_id = drop["id"]
    services = services_of(app)
    await services.purchases.loader.load_by_id(drop_id)
    inventory = services.purchases.inventory
    monkeypatch.setattr(inventory, "limits", PurchaseLimits(3))  # the session app's: restored after
    (buyer,) = await make_accounts(app, 1)
    replies = await inventory._purchase_batch(drop_id, [request(drop_id, buyer.id) for _ in range(4)])
    # Three purchases a second per buyer: the fourth in the same second is refused.
    assert outcomes(replies) == ["ok", "ok", "ok", "rate_limited"]


async def test_a_purchase_that_fails_midway_leaves_complete_sales(app: FastAPI, client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A poisoned third purchase (a quantity Lua cannot compare) makes the script raise: the two sales
    before it are complete (order, deadline, Idempotency-Key, units, counters, stream entry), the ones
    after it never happened, and a retry of a sold key answers its order."""
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator, stock=10, per_user_limit=5)
    drop_id = drop["id"]
    services = services_of(app)
    await services.purchases.loader.load_by_id(drop_id)
    inventory = services.purchases.inventory
    monkeypatch.setattr(inventory, "limits", PurchaseLimits(1000))  # the session app's: restored after
    buyers = await make_accounts(app, 4)
    batch = [request(drop_id, b.id, idem=f"key-{b.id}", address="addrP") for b in buyers]

    class Poisoned(Purchase):
        __slots__ = ()

        def args(self) -> tuple[str | int | float | bytes, ...]:
            values = list(super().args())
            values[PURCHASE_FIELDS.index("quantity")] = "x"
            return tuple(values)

    batch[2] = Poisoned(batch[2].request, batch[2].order_id, address="addrP")
    with pytest.raises(ResponseError):
        await inventory._purchase_batch(drop_id, batch)

    runtime = runtime_of(app)
    redis, k = runtime.redis, runtime.keys.drop(drop_id)
    orders = {key.decode(): orjson.loads(raw) for key, raw in (await redis.hgetall(k.orders)).items()}
    assert set(orders) == {batch[0].order_id, batch[1].order_id}
    for purchase in batch:  # every Idempotency-Key names an order that exists
        stored = await redis.get(f"{k.idem_prefix}{purchase.request.user_id}:{purchase.request.idempotency_key}")
        if stored is not None:
            assert stored.decode().split("|")[0] in orders
    inv = await redis.hgetall(k.inv)
    assert int(inv[b"remaining"]) + int(inv[b"reserved"]) + int(inv.get(b"paid", 0)) == 10
    assert int(inv[b"reserved"]) == 2
    assert await redis.zcard(k.deadlines) == 2
    assert await redis.hget(k.users, "a:addrP") == b"2"
    # The stream carried exactly the two sales: the app's sink takes them from it (and deletes each
    # entry once its rows are committed), so what the stream still holds and SQL has between them.
    streamed = {order_id.decode() for _, fields in await redis.xrange(k.stream) for order_id in fields[b"i"].split()}
    assert streamed <= set(orders)

    async def recorded() -> set[str]:
        async with runtime.sessions() as session:
            rows = await session.execute(select(col(Order.id)).where(col(Order.drop_id) == drop_id))
            return set(rows.scalars().all())

    async def sunk() -> bool:
        return await recorded() == set(orders)

    await eventually(sunk)
    # The retry of a sold purchase answers its order; the unsold ones buy now.
    again = await inventory._purchase_batch(drop_id, [batch[0], dataclasses.replace(batch[3], order_id=f"{drop_id}-r")])
    assert outcomes(again) == ["dup", "ok"]
    assert again[0].order is not None and orjson.loads(again[0].order)["id"] == batch[0].order_id
