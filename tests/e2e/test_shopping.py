"""A shopper in the browser: registers, waits for the open, buys (a double-click buys once), pays, and shares;
a friend opens the share link in another browser and buys through it, which credits the link."""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.e2e.helpers import Server, iso, landed_orders, register, shoot, token_of, unique_email

# Records the buy button's box at every change of its label or state, and every layout shift that moves it.
BUY_BUTTON_WATCH = """
if (location.pathname.indexOf("/drops/") === 0) {
  window.__buyBoxes = [];
  window.__buyShifts = [];
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("buy");
    function record() {
      var r = button.getBoundingClientRect();
      window.__buyBoxes.push({ at: performance.now(), wall: Date.now(), text: button.textContent,
        disabled: button.disabled, x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height });
    }
    record();
    new MutationObserver(record).observe(button, { attributes: true, childList: true, characterData: true,
                                                   subtree: true });
    new PerformanceObserver(function (list) {
      list.getEntries().forEach(function (entry) {
        (entry.sources || []).forEach(function (source) {
          if (source.node && source.node.contains && source.node.contains(button)) {
            window.__buyShifts.push({ at: entry.startTime, value: entry.value, text: button.textContent,
              node: source.node.nodeName + "#" + source.node.id });
          }
        });
      });
    }).observe({ type: "layout-shift", buffered: true });
  });
}
"""


def assert_buy_button_steady(page: Any) -> list[str]:
    """The button keeps one size and place through every state it went through once the drop was shown
    (screenshots resize the window: what was recorded meanwhile doesn't count)."""
    boxes, shifts = page.evaluate("""() => {
      var outside = function (item) {
        return !(window.__e2eResizes || []).some(function (r) { return item.at >= r[0] && item.at <= r[1]; });
      };
      return [window.__buyBoxes.filter(outside), window.__buyShifts.filter(outside)];
    }""")
    shown = [b for b in boxes if b["text"] != "Loading…"]
    assert shown, boxes
    first = shown[0]
    for box in shown:
        assert (box["x"], box["y"], box["w"], box["h"]) == (first["x"], first["y"], first["w"], first["h"]), (
            f"the buy button moved or resized at {box['text']!r}: {box} vs {first}")
    assert shifts == [], f"layout shifts moved the buy button: {shifts}"
    return [b["text"] for b in shown]


def test_shopper_waits_for_the_open_buys_pays_and_a_friend_buys_through_the_share_link(
        server: Server, browse: Any) -> None:
    api, operator_token = server.api, server.operator[1]
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=14)
    drop = api.create_drop(operator_token, name="Mi 14 Ultra Titanium", stock=5, price_cents=649900,
                           starts_at=iso(opens), ends_at=iso(opens + timedelta(hours=1)), per_user_limit=2)
    drop_path = f"/drops/{drop['id']}"

    buyer = browse("buyer")
    buyer.context.add_init_script(BUY_BUTTON_WATCH)
    buyer.goto("/")
    card = buyer.locator("#drop-list > li", has_text=drop["name"])
    expect(card.locator(".badge")).to_have_text("Coming soon")
    expect(card.locator(".countdown")).to_contain_text("Opens in 00:0")
    expect(card).to_contain_text("5 of 5 left")
    shoot(buyer, "storefront")

    card.get_by_role("link", name=drop["name"]).click()
    buyer.wait_for_url(f"**{drop_path}")
    expect(buyer.locator("#drop-name")).to_have_text(drop["name"])
    expect(buyer.locator("#buy")).to_be_disabled()
    expect(buyer.locator("#buy")).to_contain_text("Opens ")
    buyer.locator("#buy-msg").get_by_role("link", name="sign in").click()
    buyer.wait_for_url("**/login?next=*")
    shoot(buyer, "login")

    register(buyer, unique_email("buyer"), next_path=drop_path)
    expect(buyer.locator("#drop-phase")).to_have_text("Coming soon")
    expect(buyer.locator("#buy")).to_be_disabled()
    shoot(buyer, "drop-upcoming")
    assert datetime.now(UTC) < opens, "the drop opened before the shopper was waiting: raise the lead time"

    # The page's estimate of the server's clock is tight (exact samples from /clock, not only the
    # one-second `Date` headers), so the button opens on the second, without a reload. The browser runs
    # on the server's machine: its Date.now() is the server's time.
    expect(buyer.locator("#buy")).to_have_text("Buy now", timeout=25_000)
    expect(buyer.locator("#buy")).to_be_enabled()
    assert buyer.evaluate("() => FS.clock.hi - FS.clock.lo") < 250
    enabled_at = next(b["wall"] for b in buyer.evaluate("() => window.__buyBoxes") if b["text"] == "Buy now")
    lateness_ms = enabled_at - opens.timestamp() * 1000
    assert -50 <= lateness_ms <= 1200, f"the buy button opened {lateness_ms:.0f} ms after the drop"
    expect(buyer.locator("#drop-phase")).to_have_text("On sale")
    buyer_token = token_of(buyer)

    # A double-click is one purchase (the limit allows two, so a second request would have bought again).
    buyer.locator("#buy").dblclick()
    expect(buyer.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    expect(buyer.locator("#buy")).to_have_text("Buy now")
    buyer.wait_for_timeout(1000)
    orders = landed_orders(api, buyer_token, drop["id"])
    assert len(orders) == 1, orders
    order = orders[0]
    assert order["status"] == "reserved" and order["quantity"] == 1
    expect(buyer.locator("#drop-remaining")).to_have_text("4 of 5 left", timeout=8000)
    states = assert_buy_button_steady(buyer)
    assert {"Buy now", "Reserving…"} <= set(states) and any(s.startswith("Opens ") for s in states), states
    after_open = states[states.index("Buy now"):]
    assert not any(s.startswith("Opens ") for s in after_open), f"the button went back to waiting: {states}"
    shoot(buyer, "drop-reserved")

    buyer.locator("#buy-msg").get_by_role("link", name="Pay now").click()
    buyer.wait_for_url(re.compile(r".*/orders(#order-.+)?$"))
    row = buyer.locator(f"#order-{order['id']}")
    expect(row.locator(".badge")).to_have_text("Awaiting payment")
    expect(row).to_contain_text(drop["name"])
    expect(row.locator(".countdown")).to_contain_text("Pay within")
    shoot(buyer, "orders-reserved")
    row.get_by_role("button", name="Pay €6,499.00").click()
    expect(buyer.locator("#orders-msg")).to_have_text("Paid. Thank you!")
    row = buyer.locator(f"#order-{order['id']}")
    expect(row.locator(".badge")).to_have_text("Paid")
    share_url = row.locator("input.share-url").input_value()
    assert share_url.startswith(f"{server.base_url}/s/"), share_url
    card_image = row.locator("img.share-card")
    card_image.scroll_into_view_if_needed()
    expect(card_image).to_have_js_property("naturalWidth", 1200)
    expect(row.locator(".share .hint")).to_have_text("Viewed 0 times · 0 orders through your link")
    shoot(buyer, "orders-paid")

    # A friend, in a browser of their own, follows the link, signs up and buys.
    friend = browse("friend", viewport={"width": 390, "height": 844})
    friend.goto(share_url)
    expect(friend.locator("h1")).to_have_text(drop["name"])
    assert friend.locator('meta[property="og:image"]').get_attribute("content").startswith(f"{server.base_url}/s/")
    assert friend.locator('meta[name="twitter:card"]').get_attribute("content") == "summary_large_image"
    expect(friend.locator("img.card")).to_have_js_property("naturalWidth", 1200)
    shoot(friend, "share")
    friend.locator("a.cta").click()
    friend.wait_for_url(f"**{drop_path}")
    expect(friend.locator("#buy")).to_have_text("Sign in to buy")
    friend.locator("#buy").click()
    friend.wait_for_url("**/login?next=*")
    register(friend, unique_email("friend"), next_path=drop_path)
    expect(friend.locator("#buy")).to_have_text("Buy now")
    friend.locator("#buy").click()
    expect(friend.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    friend.locator("#buy-msg").get_by_role("link", name="Pay now").click()
    friend.wait_for_url(re.compile(r".*/orders(#order-.+)?$"))
    friend.get_by_role("button", name="Pay €6,499.00").click()
    expect(friend.locator("#orders-msg")).to_have_text("Paid. Thank you!")

    # The friend's paid state reaches SQL through the order sink: wait for it (bounded).
    deadline = time.monotonic() + 10
    share = api.call("GET", f"/api/orders/{order['id']}/share", buyer_token)
    while share["referred_orders"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
        share = api.call("GET", f"/api/orders/{order['id']}/share", buyer_token)
    assert share["url"] == share_url
    assert share["referred_orders"] == 1, share
    assert share["views"] == 1, share
    buyer.reload()
    expect(buyer.locator(f"#order-{order['id']} .share .hint")).to_have_text(
        "Viewed 1 time · 1 order through your link")


def test_pay_now_shows_the_order_before_the_database_has_it(server: Server, browse: Any) -> None:
    """The orders list is read from SQL, which the order stream reaches a moment after the purchase;
    the "Pay now" link names the order, and the page fetches that one (Redis first) until then."""
    api, operator_token = server.api, server.operator[1]
    drop = api.create_drop(operator_token, name="Redmi Note 14", stock=3, price_cents=129900)
    buyer = browse("buyer")
    register(buyer, unique_email("paynow"), next_path=f"/drops/{drop['id']}")
    # The database has not caught up yet: the list answers without the new order.
    buyer.route("**/api/orders", lambda route: route.fulfill(status=200, content_type="application/json", body="[]"))
    expect(buyer.locator("#buy")).to_have_text("Buy now")
    buyer.locator("#buy").click()
    expect(buyer.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    buyer.locator("#buy-msg").get_by_role("link", name="Pay now").click()
    buyer.wait_for_url(re.compile(r".*/orders#order-.+"))
    order_id = buyer.url.rsplit("#order-", 1)[1]
    assert order_id.startswith(f"{drop['id']}-")
    buyer.get_by_role("button", name="Pay €1,299.00").click()
    expect(buyer.locator("#orders-msg")).to_have_text("Paid. Thank you!")
    assert api.call("GET", f"/api/orders/{order_id}", token_of(buyer))["status"] == "paid"
