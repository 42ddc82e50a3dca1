"""The operator's control room in the browser: the drop list shows each drop's phase (the pause too);
pause (confirmed with a second click) stops the buyer's page at once, a message shows there as text,
stock and edits change the drop, orders list and export, the audit page lists what was done."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.helpers import Server, register, shoot, sign_in, unique_email


def test_operator_pauses_messages_and_resumes_a_live_drop(server: Server, browse: Any) -> None:
    api, (operator_email, operator_token) = server.api, server.operator
    drop = api.create_drop(operator_token, name="Redmi Pad Pro", stock=10, per_user_limit=2)
    buyer = browse("buyer")
    register(buyer, unique_email("buyer"), next_path=f"/drops/{drop['id']}")
    expect(buyer.locator("#buy")).to_be_enabled()

    ops = browse("operator")
    sign_in(ops, operator_email, next_path="/ops")
    row = ops.locator("#drops-rows tr", has_text="Redmi Pad Pro")
    expect(row.locator(".badge")).to_have_text("On sale")
    row.get_by_role("button").click()
    expect(ops.locator("#ctl-status")).to_contain_text("Redmi Pad Pro")
    pause = ops.locator("#ctl-pause")
    pause.click()
    expect(pause).to_have_text("Click again to confirm")
    assert api.http.get(f"/api/drops/{drop['id']}").json()["paused"] is False  # one click does nothing
    pause.click()
    expect(ops.locator("#ctl-msg")).to_contain_text("is paused")
    expect(row.locator(".badge")).to_have_text("Paused · On sale")
    assert api.http.get(f"/api/drops/{drop['id']}").json()["paused"] is True

    ops.fill("#message-text", "<b>Card payments are slow</b>\nBack in five minutes.")
    ops.click("#message-form button[type=submit]")
    expect(ops.locator("#ctl-msg")).to_contain_text("The message shows")
    buyer.reload()
    expect(buyer.locator("#drop-paused")).to_be_visible()
    expect(buyer.locator("#buy")).to_have_text("Paused")
    expect(buyer.locator("#buy")).to_be_disabled()
    expect(buyer.locator("#drop-notice-text")).to_have_text("<b>Card payments are slow</b>\nBack in five minutes.")
    assert buyer.locator("#drop-notice-text b").count() == 0  # text, never HTML
    shoot(buyer, "drop-paused-with-message")

    ops.fill("#stock-delta", "5")
    ops.click("#stock-form button[type=submit]")
    ops.click("#stock-form button[type=submit]")  # the confirming click
    expect(ops.locator("#ctl-msg")).to_have_text("Stock is now 15; 15 left.")
    ops.click("#ctl-resume")
    expect(ops.locator("#ctl-msg")).to_contain_text("on sale again")
    expect(buyer.locator("#drop-paused")).to_be_hidden(timeout=8_000)  # the page's next poll
    expect(buyer.locator("#buy")).to_be_enabled()
    buyer.click("#buy")
    expect(buyer.locator("#buy-msg")).to_contain_text("Reserved")

    ops.select_option("#o-drop", str(drop["id"]))
    ops.click("#orders-form button[type=submit]")
    expect(ops.locator("#o-rows tr")).to_have_count(1)
    with ops.expect_download() as download:
        ops.click("#o-csv")
    content = Path(download.value.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and b"order_id" in content
    shoot(ops, "control-room")

    ops.goto("/ops/audit")
    expect(ops.locator("#audit-rows tr").first).to_contain_text("drop.resume")
    expect(ops.locator("#audit-rows")).to_contain_text("drop.pause")
    expect(ops.locator("#audit-rows")).to_contain_text(operator_email)
    shoot(ops, "audit-log")
