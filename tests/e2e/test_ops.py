"""The operator creates a drop on the dashboard and watches it: purchases, payments and a cancel made
through the API show up in the numbers live, over the event stream, without a reload."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.e2e.helpers import Server, shoot, sign_in, unique_email


def test_dashboard_follows_purchases_live(server: Server, browse: Any) -> None:
    api = server.api
    ops = browse("operator")
    sign_in(ops, server.operator[0], next_path="/ops")
    expect(ops.locator("nav [data-min-role=operator]")).to_be_visible()
    expect(ops.locator("#live-conn")).to_have_text("Not watching a drop.")

    # The browser runs in UTC (see the browse fixture), so datetime-local values are UTC here.
    now = datetime.now(UTC).replace(microsecond=0)
    sku = f"OPS-{uuid.uuid4().hex[:6].upper()}"
    ops.fill("#c-sku", sku)
    ops.fill("#c-name", "Xiaomi Pad 7")
    ops.fill("#c-price", "399.00")
    ops.fill("#c-stock", "30")
    ops.fill("#c-starts", (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    ops.fill("#c-ends", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    ops.get_by_role("button", name="Create drop").click()
    expect(ops.locator("#create-msg")).to_contain_text("Created drop #")
    drop = next(d for d in api.http.get("/api/drops").json() if d["sku"] == sku)
    # The currency is the store's (FLASHSALE_CURRENCY, CNY by default), whatever the page's language.
    assert (drop["stock"], drop["price_cents"], drop["currency"], drop["phase"]) == (30, 39900, "CNY", "open")

    # Creating a drop starts watching it.
    expect(ops.locator("#live-title")).to_contain_text(f"Xiaomi Pad 7 ({sku})")
    expect(ops.locator("#live-conn")).to_have_text("Live")
    expect(ops.locator("#k-remaining")).to_have_text("30 / 30")
    expect(ops.locator("#k-phase")).to_have_text("On sale")
    expect(ops.locator("#rejections")).to_have_text("None")
    ops.evaluate("() => { window.__sameDocument = true; }")

    buyers = [api.register(unique_email("crowd")) for _ in range(5)]
    orders = [api.call("POST", f"/api/drops/{drop['id']}/purchase", token, expect=201, json={"quantity": 1})
              for token in buyers]
    expect(ops.locator("#k-remaining")).to_have_text("25 / 30")
    expect(ops.locator("#k-reserved")).to_have_text("5")
    expect(ops.locator("#k-attempts")).not_to_have_text("0")
    expect(ops.locator("#k-peak")).not_to_have_text("0.0")

    for order, token in list(zip(orders, buyers, strict=True))[:3]:
        api.call("POST", f"/api/orders/{order['id']}/pay", token, json={"payment_token": "test_ok"})
    api.call("POST", f"/api/orders/{orders[3]['id']}/cancel", buyers[3])
    api.call("POST", f"/api/drops/{drop['id']}/purchase", buyers[0], expect=409, json={"quantity": 1})
    expect(ops.locator("#k-paid")).to_have_text("3")
    expect(ops.locator("#k-cancelled")).to_have_text("1")
    expect(ops.locator("#k-reserved")).to_have_text("1")
    expect(ops.locator("#k-remaining")).to_have_text("26 / 30")
    expect(ops.locator("#rejections tr")).to_have_text(["Buyer's limit reached limit_reached1"])  # named, then the code
    expect(ops.locator("#k-soldout")).to_have_text("Not yet")
    assert ops.evaluate("() => window.__sameDocument") is True, "the dashboard reloaded"
    assert ops.locator("#live-conn").inner_text() == "Live"
    shoot(ops, "ops")


def test_create_form_posts_versions_with_their_own_stock(server: Server, browse: Any) -> None:
    ops = browse("operator")
    sign_in(ops, server.operator[0], next_path="/ops")
    now = datetime.now(UTC).replace(microsecond=0)
    sku = f"VER-{uuid.uuid4().hex[:6].upper()}"
    ops.fill("#c-sku", sku)
    ops.fill("#c-name", "Mi Phone 15")
    ops.fill("#c-price", "4999")
    ops.fill("#c-starts", (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    ops.fill("#c-ends", (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"))
    # A line without its stock is the operator's to fix, before anything is sent.
    ops.fill("#c-variants", f"{sku}-BLK | Black, 256 GB\n")
    ops.get_by_role("button", name="Create drop").click()
    expect(ops.locator("#c-variants")).to_have_attribute("aria-invalid", "true")
    expect(ops.locator("#create-msg")).not_to_contain_text("Created drop #")
    # Stock left empty: the versions' sum; a full-width bar and a version's own price read too.
    bar = "\uff5c"  # FULLWIDTH VERTICAL LINE, as a Chinese keyboard types it
    ops.fill("#c-variants", f"{sku}-BLK | Black, 256 GB | 3\n\n{sku}-TI{bar}Titanium, 1 TB{bar}2{bar}5999.50")
    ops.get_by_role("button", name="Create drop").click()
    expect(ops.locator("#create-msg")).to_contain_text("Created drop #")
    drop = next(d for d in server.api.http.get("/api/drops").json() if d["sku"] == sku)
    assert drop["stock"] == 5 and drop["price_cents"] == 499900
    assert [(v["sku"], v["name"], v["stock"], v["price_cents"]) for v in drop["variants"]] == [
        (f"{sku}-BLK", "Black, 256 GB", 3, 499900), (f"{sku}-TI", "Titanium, 1 TB", 2, 599950)]
    expect(ops.locator("#k-remaining")).to_have_text("5 / 5")
