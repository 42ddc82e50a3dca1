"""Operator controls on product content (the merge of issue 21 with the controls): live stock of a drop
with variants names the variant, the description is editable, a clone keeps the product's content, and
a cancel or a refund gives units back to their own variant; gallery changes are audited."""
from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.support import buy, create_drop, is_problem, make_account, pay, stats
from tests.test_audit import entries
from tests.test_drop_gallery import add
from tests.test_drop_images import picture
from tests.test_variants import variant_drop

SPECS = [{"name": "Weight", "value": "180 g"}]


async def test_stock_delta_on_a_drop_with_variants_names_one(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator)
    url = f"/api/admin/drops/{drop['id']}"
    for body in ({"stock_delta": 2}, {"stock_delta": 2, "variant": "phone-red"}):
        assert is_problem(await client.patch(url, json=body, headers=operator.headers), 422), body
    buyer = await make_account(app)
    await buy(client, buyer, drop["id"], variant="phone-blue-1t")
    # The blue one has 1 unit left of 2: taking 2 away is refused, nothing changes.
    answer = await client.patch(url, json={"stock_delta": -2, "variant": "phone-blue-1t"}, headers=operator.headers)
    assert is_problem(answer, 409, "stock_conflict")
    answer = await client.patch(url, json={"stock_delta": 3, "variant": "phone-blue-1t"}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["stock"] == 13 and shown["remaining"] == 12
    assert {v["sku"]: (v["stock"], v["remaining"]) for v in shown["variants"]}["phone-blue-1t"] == (5, 4)
    st = await stats(client, operator.headers, drop["id"])
    assert st["variants"]["phone-blue-1t"]["stock"] == 5 and st["variants"]["phone-blue-1t"]["remaining"] == 4
    answer = await client.patch(url, json={"stock_delta": -1, "variant": "phone-black-256"}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert {v["sku"]: v["remaining"] for v in answer.json()["variants"]}["phone-black-256"] == 2
    # A drop without variants refuses a variant.
    plain = await create_drop(client, operator)
    answer = await client.patch(f"/api/admin/drops/{plain['id']}", json={"stock_delta": 1, "variant": "phone-blue-1t"},
                                headers=operator.headers)
    assert is_problem(answer, 422)


async def test_description_edit_and_clone_keep_the_content(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator, description="First.", specs=SPECS, shipping_required=True)
    url = f"/api/admin/drops/{drop['id']}"
    answer = await client.patch(url, json={"description": "New text.\n\nSecond paragraph."}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["description"] == "New text.\n\nSecond paragraph."
    assert (await client.get(f"/api/drops/{drop['id']}")).json()["description"] == "New text.\n\nSecond paragraph."
    clone = await client.post(f"{url}/clone", json={}, headers=operator.headers)
    assert clone.status_code == 201, clone.text
    copy = clone.json()
    assert copy["description"] == "New text.\n\nSecond paragraph." and copy["specs"] == SPECS
    assert copy["shipping_required"] is True and copy["stock"] == 10
    assert [(v["sku"], v["stock"], v["remaining"]) for v in copy["variants"]] == [
        (v["sku"], v["stock"], v["stock"]) for v in drop["variants"]]
    answer = await client.patch(url, json={"description": ""}, headers=operator.headers)
    assert answer.status_code == 200 and answer.json()["description"] is None


async def test_cancel_and_refund_give_units_back_to_their_variant(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await variant_drop(client, operator)
    first, second = await make_account(app), await make_account(app)
    paid = await buy(client, first, drop["id"], variant="phone-white-512")
    await pay(client, first, paid["id"])
    answer = await client.post(f"/api/admin/orders/{paid['id']}/refund", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    st = await stats(client, operator.headers, drop["id"])
    assert st["variants"]["phone-white-512"]["remaining"] == 5 and st["variants"]["phone-white-512"]["refunded"] == 1
    await buy(client, second, drop["id"], variant="phone-blue-1t")
    answer = await client.post(f"/api/admin/drops/{drop['id']}/cancel", json={}, headers=operator.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["released"] == 1
    st = await stats(client, operator.headers, drop["id"])
    assert st["variants"]["phone-blue-1t"]["remaining"] == 2 and st["variants"]["phone-blue-1t"]["cancelled"] == 1


async def test_gallery_changes_are_audited(app: FastAPI, client: httpx.AsyncClient) -> None:
    operator = await make_account(app, "operator")
    drop = await create_drop(client, operator)
    for size in ((400, 300), (500, 300)):
        response = await add(client, drop["id"], operator.headers, picture("PNG", size))
        assert response.status_code == 201, response.text
    answer = await client.delete(f"/api/admin/drops/{drop['id']}/images/0", headers=operator.headers)
    assert answer.status_code == 200, answer.text
    log = [e for e in await entries(client, operator.headers, operator.id)
           if e["target_id"] == str(drop["id"]) and e["action"] == "drop.images"]
    assert len(log) == 3  # newest first: the removal, then the two additions
    removed, second, first = log
    assert first["before"] == {"pictures": []} and len(first["after"]["pictures"]) == 1
    assert len(second["after"]["pictures"]) == 2 and second["before"] == first["after"]
    assert removed["before"] == second["after"] and removed["after"] == {"pictures": second["after"]["pictures"][1:]}
