"""An employee claims this month's F-codes in the browser and gives one to a friend, who buys with it in
the drop's early-access window, while everyone else still waits."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from tests.e2e.helpers import PHONE, Server, iso, landed_orders, register, shoot, sign_in, token_of, unique_email


def test_employee_claims_codes_and_a_friend_buys_with_one_in_early_access(server: Server, browse: Any) -> None:
    api, operator_token = server.api, server.operator[1]
    opens = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    drop = api.create_drop(operator_token, name="Redmi Note 14 Pro+", stock=3, price_cents=32900,
                           starts_at=iso(opens), ends_at=iso(opens + timedelta(hours=1)), priority_minutes=30)
    assert drop["phase"] == "priority", drop
    drop_path = f"/drops/{drop['id']}"

    # The friend has an account (a code is given to one) and is waiting on the drop page: no code, no buying.
    friend_email = unique_email("friend")
    friend = browse("friend", viewport=PHONE)
    register(friend, friend_email, next_path=drop_path)
    expect(friend.locator("#drop-phase")).to_have_text("Early access")
    expect(friend.locator("#drop-countdown")).to_contain_text("F-code early access · opens to all in")
    expect(friend.locator("#buy")).to_have_text("F-code holders only")
    expect(friend.locator("#buy")).to_be_disabled()
    expect(friend.locator("#fcode-box")).to_have_attribute("open", "")

    employee = browse("employee")
    sign_in(employee, server.create_user("employee"), next_path="/fcodes")
    expect(employee.locator("nav [data-min-role=employee]")).to_be_visible()
    expect(employee.locator("#fcodes-empty")).to_be_visible()
    employee.get_by_role("button", name="Claim this month's codes").click()
    # The month is the store's (its time zone's), not necessarily UTC's.
    expect(employee.locator("#fcodes-msg")).to_have_text(re.compile(r"^You have 2 codes for \d{4}-\d{2}\.$"))
    cards = employee.locator("#fcode-list > li")
    expect(cards).to_have_count(2)
    expect(cards.locator(".badge")).to_have_text(["Available", "Available"])
    code = cards.nth(0).locator("code.fcode").inner_text()
    assert code, "no code shown"

    first = employee.locator("#fcode-list > li", has=employee.locator("code.fcode", has_text=code))
    first.get_by_label("Give this code to (email)").fill(friend_email)
    first.get_by_role("button", name=f"Give code {code}").click()
    expect(employee.locator("#fcodes-msg")).to_have_text(f"Code {code} given to {friend_email}.")
    first = employee.locator("#fcode-list > li", has=employee.locator("code.fcode", has_text=code))
    expect(first).to_contain_text(f"Given to {friend_email}")
    expect(first.get_by_role("button", name=f"Take back code {code}")).to_be_visible()
    shoot(employee, "fcodes")

    # Typed the way people type codes: lower case, spaced out.
    plain = code.replace("-", "").lower()
    typed = " ".join(plain[i:i + 4] for i in range(0, len(plain), 4))
    friend.fill("#fcode", typed)
    expect(friend.locator("#buy")).to_have_text("Buy with F-code")
    expect(friend.locator("#buy")).to_be_enabled()
    shoot(friend, "drop-early-access")
    friend.locator("#buy").click()
    expect(friend.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
    expect(friend.locator("#fcode")).to_have_value("")  # single-use: the field is cleared
    expect(friend.locator("#buy")).to_have_text("F-code holders only")
    orders = landed_orders(api, token_of(friend), drop["id"])
    assert [(o["status"], o["quantity"]) for o in orders] == [("reserved", 1)], orders
    assert datetime.now(UTC) < opens

    employee.reload()
    used = employee.locator("#fcode-list > li", has=employee.locator("code.fcode", has_text=code))
    expect(used.locator(".badge")).to_have_text("In an unpaid order")
    expect(used.get_by_role("link", name=str(orders[0]["id"]))).to_be_visible()
    other = employee.locator("#fcode-list > li", has_not=employee.locator("code.fcode", has_text=code))
    expect(other.locator(".badge")).to_have_text("Available")

    # The employee's own unused code is offered on the drop page: one tap, then buy.
    other_code = other.locator("code.fcode").inner_text()
    employee.goto(f"/drops/{drop['id']}")
    picks = employee.locator("#fcode-pick-list button")
    expect(picks).to_have_text([other_code])
    picks.first.click()
    expect(employee.locator("#fcode")).to_have_value(other_code)
    expect(employee.locator("#buy")).to_be_enabled()
    employee.locator("#buy").click()
    expect(employee.locator("#buy-msg")).to_contain_text("Reserved 1 unit")
