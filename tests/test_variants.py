"""Variants (API.md "Drops" variants, "Buying" `variant`): each with its own stock, decided in the same
purchase script and slot; no oversell per variant, the drop's limit counted across variants, exact
counts per variant in the stats, units back to their own variant on cancel and expiry."""
from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.support import buy, is_problem, make_account, make_accounts, purchase, runtime_of, stats

VARIANTS: list[dict[str, Any]] = [
    {"sku": "phone-black-256", "name": "Black, 256 GB", "stock": 3},
    {"sku": "phone-white-512", "name": "White, 512 GB", "stock": 5, "price_cents": 249900},
    {"sku": "phone-blue-1t", "name": "Blue, 1 TB", "stock": 2, "price_cents": 299900},
]


async def variant_drop(client: httpx.AsyncClient, operator: Any, **overrides: Any) -> dict[str, Any]:
    body = {"variants": VARIANTS, "price_cents": 199900, **overrides}
    body.pop("stock", None)
    response = await client.post("/api/admin/drops", headers=operator.headers, json={
        **{k: v for k, v in (await _base()).items() if k not in body}, **body})
    assert response.status_code == 201, response.text
    drop: dict[str, Any] = response.json()
    return drop


async def _base() -> dict[str, Any]:
    from datetime import timedelta

    from tests.support import iso, now
    start = now() - timedelta(seconds=5)
    return {"sku": "phone-x", "name": "Mi Phone X", "currency": "CNY", "starts_at": iso(start),
            "ends_at": iso(start + timedelta(hours=1)), "per_user_limit": 1}


async def test_a_drop_with_variants_sells_each_from_its_own_stock(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator, per_user_limit=2)
    assert drop["stock"] == drop["remaining"] == 10
    assert [(v["sku"], v["remaining"], v["price_cents"]) for v in drop["variants"]] == [
        ("phone-black-256", 3, 199900), ("phone-white-512", 5, 249900), ("phone-blue-1t", 2, 299900)]
    buyer, other = await make_account(app), await make_account(app)
    assert is_problem(await purchase(client, drop["id"], buyer.headers), 422, "variant_required")
    assert is_problem(await purchase(client, drop["id"], buyer.headers, variant="phone-red"), 404, "variant_not_found")
    assert is_problem(await purchase(client, drop["id"], buyer.headers, variant='x","a":"'), 404, "variant_not_found")
    order = await buy(client, buyer, drop["id"], variant="phone-blue-1t")
    assert order["variant"] == "phone-blue-1t" and order["amount_cents"] == 299900 and order["sku"] == "phone-x"
    # The drop's limit counts across variants.
    await buy(client, buyer, drop["id"], variant="phone-black-256")
    assert is_problem(await purchase(client, drop["id"], buyer.headers, variant="phone-white-512"),
                      409, "limit_reached")
    await buy(client, other, drop["id"], variant="phone-blue-1t")
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert shown["remaining"] == 7
    assert {v["sku"]: v["remaining"] for v in shown["variants"]} == {
        "phone-black-256": 2, "phone-white-512": 5, "phone-blue-1t": 0}
    third = await make_account(app)
    assert is_problem(await purchase(client, drop["id"], third.headers, variant="phone-blue-1t"), 409, "sold_out")
    # A cancel gives the unit back to its own variant.
    assert (await client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.headers)).status_code == 200
    st = await stats(client, operator.headers, drop["id"])
    assert st["variants"]["phone-blue-1t"] == {"stock": 2, "remaining": 1, "reserved": 1, "paid": 0, "expired": 0,
                                               "cancelled": 1, "refunded": 0}
    assert st["variants"]["phone-black-256"]["reserved"] == 1 and st["variants"]["phone-black-256"]["remaining"] == 2


@pytest.mark.parametrize("bad", [
    {"stock": 11}, {"variants": [VARIANTS[0], VARIANTS[0]]}, {"variants": [{"sku": "a", "name": "A", "stock": 0}]},
    {"variants": [{**VARIANTS[0], "sku": "bad sku"}]}, {"variants": [VARIANTS[0]] * 21},
])
async def test_bad_variants_are_422(app: FastAPI, client: httpx.AsyncClient, bad: dict[str, Any]) -> None:
    operator = await make_account(app, "operator")
    body = {**(await _base()), "price_cents": 100, "variants": VARIANTS, **bad}
    assert is_problem(await client.post("/api/admin/drops", json=body, headers=operator.headers),
                      422, "validation_error")


async def test_rush_per_variant_never_oversells(app: FastAPI, client: httpx.AsyncClient) -> None:
    """Many buyers, small stock per variant: exactly each variant's stock sells, no more."""
    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator)
    buyers = await make_accounts(app, 90)
    url = f"/api/drops/{drop['id']}/purchase"
    skus = [v["sku"] for v in VARIANTS]
    answers = await asyncio.gather(*(client.post(url, json={"variant": skus[i % 3]}, headers=b.headers)
                                     for i, b in enumerate(buyers)))
    sold: dict[str, int] = dict.fromkeys(skus, 0)
    for response in answers:
        if response.status_code == 201:
            sold[response.json()["variant"]] += 1
        else:
            assert is_problem(response, 409, "sold_out"), response.text
    assert sold == {v["sku"]: v["stock"] for v in VARIANTS}
    st = await stats(client, operator.headers, drop["id"])
    assert (st["remaining"], st["reserved"]) == (0, 10)
    for v in VARIANTS:
        assert st["variants"][v["sku"]]["remaining"] == 0 and st["variants"][v["sku"]]["reserved"] == v["stock"]
    numbers = {r.json()["number"] for r in answers if r.status_code == 201}
    assert len(numbers) == 10


async def test_variant_counts_survive_redis_losing_the_drop(app: FastAPI, client: httpx.AsyncClient) -> None:
    from tests.support import eventually
    from tests.test_checkout import sql_orders

    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator)
    buyers = await make_accounts(app, 4)
    for b in buyers[:3]:
        await buy(client, b, drop["id"], variant="phone-blue-1t" if b is buyers[0] else "phone-black-256")

    async def sunk() -> bool:
        rows = await sql_orders(app, drop["id"])
        return len(rows) == 3 and all(r.variant for r in rows)

    await eventually(sunk)
    runtime = runtime_of(app)
    await runtime.redis.delete(*runtime.keys.drop(drop["id"]).all_keys())
    shown = (await client.get(f"/api/drops/{drop['id']}")).json()
    assert {v["sku"]: v["remaining"] for v in shown["variants"]} == {
        "phone-black-256": 1, "phone-white-512": 5, "phone-blue-1t": 1}
    await buy(client, buyers[3], drop["id"], variant="phone-blue-1t")
    assert is_problem(await purchase(client, drop["id"], (await make_account(app)).headers, variant="phone-blue-1t"),
                      409, "sold_out")
