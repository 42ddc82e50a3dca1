"""The operator's order list (keyset pages, filters) and a drop's CSV export (streamed, UTF-8 with BOM)."""
from __future__ import annotations

import csv
import io
import uuid
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from accounts.models import User
from sale.models import Order
from tests.support import (
    Account,
    buy,
    create_drop,
    eventually,
    is_problem,
    make_account,
    make_accounts,
    pay,
    runtime_of,
)


async def sunk(app: FastAPI, drop_id: int, statuses: dict[str, int]) -> None:
    """Until the sink wrote the drop's orders with these statuses (a paid one lands a moment later)."""
    async def check() -> bool:
        async with runtime_of(app).sessions() as session:
            rows = (await session.execute(select(Order).where(Order.drop_id == drop_id))).scalars().all()
        return dict(Counter(r.status for r in rows)) == statuses

    await eventually(check)


async def chinese_buyer(app: FastAPI) -> Account:
    """A buyer whose address Excel must not garble (an internationalised email)."""
    account = await make_account(app)
    email = f"买家-{uuid.uuid4().hex[:6]}@例子.公司"
    async with runtime_of(app).sessions.begin() as session:
        user = await session.get(User, account.id)
        assert user is not None
        user.email = email
    return Account(account.id, email, account.role, account.token)


async def test_orders_in_pages_with_filters(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 7)
    drop = await create_drop(client, operator, stock=20)
    other = await create_drop(client, operator, stock=5)
    orders = [await buy(client, b, drop["id"]) for b in buyers]
    await buy(client, buyers[0], other["id"])
    for b, o in zip(buyers[:3], orders[:3], strict=True):
        await pay(client, b, o["id"])
    await sunk(app, drop["id"], {"paid": 3, "reserved": 4})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"drop_id": drop["id"], "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/admin/orders", params=params, headers=operator.headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= 3
        seen += [o["id"] for o in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    newest_first = sorted(orders, key=lambda o: (o["created_at"], o["id"]), reverse=True)
    assert seen == [o["id"] for o in newest_first]  # each once
    paid = (await client.get("/api/admin/orders", params={"drop_id": drop["id"], "status": "paid"},
                             headers=operator.headers)).json()
    assert sorted(o["id"] for o in paid["items"]) == sorted(o["id"] for o in orders[:3])
    assert paid["next_cursor"] is None
    first = paid["items"][-1]
    assert (first["buyer_email"], first["user_id"], first["status"], first["quantity"]) == (
        buyers[0].email, buyers[0].id, "paid", 1)
    assert first["paid_at"] is not None and first["amount_cents"] == 199900
    assert first["number"] == orders[0]["number"] and first["variant"] is None and first["shipping"] is None
    everything = (await client.get("/api/admin/orders", params={"limit": 200}, headers=operator.headers)).json()
    assert {o["drop_id"] for o in everything["items"]} >= {drop["id"], other["id"]}
    none = await client.get("/api/admin/orders", params={"drop_id": 999_999}, headers=operator.headers)
    assert none.json() == {"items": [], "next_cursor": None}


async def test_csv_export_streams_every_order_excel_ready(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    buyers = [await chinese_buyer(app), *await make_accounts(app, 4)]
    drop = await create_drop(client, operator, stock=10, name="小米手环 9", currency="JPY", price_cents=12800)
    orders = [await buy(client, b, drop["id"]) for b in buyers]
    await pay(client, buyers[0], orders[0]["id"])
    await client.post(f"/api/orders/{orders[1]['id']}/cancel", headers=buyers[1].headers)
    await sunk(app, drop["id"], {"paid": 1, "cancelled": 1, "reserved": 3})
    answer = await client.get(f"/api/admin/drops/{drop['id']}/orders.csv", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="drop-' in answer.headers["content-disposition"]
    raw = answer.content
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["order_id"] for r in rows] == [o["id"] for o in sorted(orders, key=lambda o: (o["created_at"], o["id"]))]
    by_id = {r["order_id"]: r for r in rows}
    mine = by_id[orders[0]["id"]]
    assert (mine["status"], mine["buyer_email"], mine["currency"], mine["amount"], mine["amount_cents"]) == (
        "paid", buyers[0].email, "JPY", "12800", "12800")
    assert mine["paid_at"].endswith("Z") and mine["created_at"].endswith("Z")
    assert by_id[orders[1]["id"]]["status"] == "cancelled" and by_id[orders[1]["id"]]["ended_at"]
    assert list(rows[0]) == ["order_id", "order_number", "variant", "status", "quantity", "amount_cents", "amount",
                             "currency", "created_at", "pay_by", "paid_at", "ended_at", "refund_status", "refunded_at",
                             "buyer_email", "ship_name", "ship_phone", "ship_country", "ship_region", "ship_city",
                             "ship_line1", "ship_line2", "ship_postal_code"]
    assert mine["order_number"] == orders[0]["number"] and mine["variant"] == "" and mine["ship_line1"] == ""
    assert is_problem(await client.get("/api/admin/drops/999999/orders.csv", headers=operator.headers), 404,
                      "drop_not_found")
    empty = await create_drop(client, operator)
    only_header = await client.get(f"/api/admin/drops/{empty['id']}/orders.csv", headers=operator.headers)
    assert only_header.content.decode("utf-8-sig").count("\r\n") == 1


async def test_csv_cells_never_run_as_formulas(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    async with runtime_of(app).sessions.begin() as session:
        user = await session.get(User, buyer.id)
        assert user is not None
        user.email = f"=HYPERLINK(\"http://x\")-{uuid.uuid4().hex[:6]}@example.com"
    drop = await create_drop(client, operator, stock=2, currency="EUR", price_cents=1999)
    await buy(client, buyer, drop["id"])
    await sunk(app, drop["id"], {"reserved": 1})
    text = (await client.get(f"/api/admin/drops/{drop['id']}/orders.csv", headers=operator.headers)).text
    row = next(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert row["buyer_email"].startswith("'=HYPERLINK") and row["amount"] == "19.99"


async def test_orders_and_csv_carry_the_number_variant_and_address(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator, buyer, other = await make_account(app, "operator"), await make_account(app), await make_account(app)
    drop = await create_drop(client, operator, stock=5, price_cents=100, shipping_required=True,
                             variants=[{"sku": "band-black", "name": "黑色", "stock": 3},
                                       {"sku": "band-pink", "name": "粉色", "stock": 2}])
    shipped = await buy(client, buyer, drop["id"], variant="band-pink")
    waiting = await buy(client, other, drop["id"], variant="band-black")
    address = await client.post("/api/me/addresses", headers=buyer.headers, json={
        "name": "=王小明", "phone": "+86 138 0013 8000", "country": "CN", "region": "北京市", "city": "北京",
        "line1": "海淀区清河中街68号", "postal_code": "100085"})
    assert address.status_code == 201, address.text
    paid = await client.post(f"/api/orders/{shipped['id']}/pay", headers=buyer.headers,
                             json={"payment_token": "test_ok", "address_id": address.json()["id"]})
    assert paid.status_code == 200, paid.text
    await sunk(app, drop["id"], {"paid": 1, "reserved": 1})

    async def shipping_landed() -> bool:
        items = (await client.get("/api/admin/orders", params={"drop_id": drop["id"], "status": "paid"},
                                  headers=operator.headers)).json()["items"]
        return bool(items) and items[0]["shipping"] is not None

    await eventually(shipping_landed)
    items = {o["id"]: o for o in (await client.get("/api/admin/orders", params={"drop_id": drop["id"]},
                                                   headers=operator.headers)).json()["items"]}
    assert (items[shipped["id"]]["number"], items[shipped["id"]]["variant"]) == (shipped["number"], "band-pink")
    assert items[shipped["id"]]["shipping"] == {"name": "=王小明", "phone": "+86 138 0013 8000", "country": "CN",
                                                "region": "北京市", "city": "北京", "line1": "海淀区清河中街68号",
                                                "line2": None, "postal_code": "100085"}
    assert items[waiting["id"]]["variant"] == "band-black" and items[waiting["id"]]["shipping"] is None

    text = (await client.get(f"/api/admin/drops/{drop['id']}/orders.csv", headers=operator.headers)).text
    rows = {r["order_id"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    row = rows[shipped["id"]]
    assert (row["order_number"], row["variant"], row["status"]) == (shipped["number"], "band-pink", "paid")
    # The address's cells, a spreadsheet formula never run (a name or a phone starting = or +).
    assert (row["ship_name"], row["ship_phone"], row["ship_country"], row["ship_region"], row["ship_city"],
            row["ship_line1"], row["ship_line2"], row["ship_postal_code"]) == (
        "'=王小明", "'+86 138 0013 8000", "CN", "北京市", "北京", "海淀区清河中街68号", "", "100085")
    unshipped = rows[waiting["id"]]
    assert unshipped["variant"] == "band-black" and unshipped["order_number"] == waiting["number"]
    assert all(unshipped[c] == "" for c in unshipped if c.startswith("ship_"))
