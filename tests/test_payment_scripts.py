"""The order's provider payment in Redis (pay_begin / pay_record / pay_event / release / refund.lua):
close before release, notices late, twice and out of order, refunds. Real Redis, a test clock; the
providers themselves are exercised against their stand-ins in test_payments_*.py."""
from __future__ import annotations

from typing import Any

from sale.inventory import Inventory
from sale.live_order import LiveOrder
from tests.support import create_drop, eventually, is_problem, make_account, purchase, services_of, stats
from tests.support.clock import Manual


async def _order_with_payment(manual: Manual, stock: int = 1, pay_window: int = 60) -> tuple[
        Inventory, dict[str, Any], dict[str, Any], Any]:
    app, client = manual.app, manual.client
    operator, buyer = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=stock, pay_window_seconds=pay_window)
    order = (await purchase(client, drop["id"], buyer.headers)).json()
    inventory = services_of(app).inventory
    state, begun = await inventory.begin_payment(drop["id"], order["id"], buyer.id, "stripe")
    assert state == "begun" and begun is not None and begun.pay_attempt == 1
    state, _ = await inventory.record_payment(drop["id"], order["id"], "stripe", 1, "pi_test_1", "pi_test_1_secret")
    assert state == "recorded"
    return inventory, drop, order, operator


async def _live(inventory: Inventory, drop: dict[str, Any], order: dict[str, Any]) -> LiveOrder:
    found = await inventory.order(drop["id"], order["id"])
    assert found is not None
    return found


async def test_an_open_payment_keeps_its_units_past_pay_by_until_the_provider_closed_it(manual: Manual) -> None:
    inventory, drop, order, operator = await _order_with_payment(manual)
    other = await make_account(manual.app)
    manual.clock.advance(61)
    # Past pay-by, the sweeper (no Stripe configured here: it cannot close) must not release the unit.
    expired, closing = await inventory.expire_due(drop["id"])
    assert expired == [] and [o.id for o in closing] in ([order["id"]], [])
    for _ in range(3):
        manual.clock.advance(6)
        await inventory.expire_due(drop["id"])
    live = await _live(inventory, drop, order)
    assert (live.status, live.pay_status) == ("reserved", "pending")
    assert is_problem(await purchase(manual.client, drop["id"], other.headers), 409, "sold_out")

    # The provider confirms the close: the next sweep returns the unit.
    state, _ = await inventory.payment_event(drop["id"], order["id"], "canceled", "pi_test_1")
    assert state == "canceled"

    async def released() -> bool:
        return (await _live(inventory, drop, order)).status == "expired"

    await eventually(released)
    st = await stats(manual.client, operator.headers, drop["id"])
    assert (st["remaining"], st["reserved"]) == (1, 0)
    # A success the provider reports after it said "closed" is money for a released unit: refund due.
    state, late = await inventory.payment_event(drop["id"], order["id"], "succeeded", "pi_test_1", "tok")
    assert state == "refund_due" and late is not None and late.refund == "pending"


async def test_a_success_past_pay_by_pays_the_order_and_notices_apply_once(manual: Manual) -> None:
    inventory, drop, order, operator = await _order_with_payment(manual)
    manual.clock.advance(61)
    await inventory.expire_due(drop["id"])
    state, paid = await inventory.payment_event(drop["id"], order["id"], "succeeded", "pi_test_1", "tok1")
    assert state == "paid" and paid is not None and (paid.status, paid.pay_status, paid.share) == (
        "paid", "succeeded", "tok1")
    # Again, and a failure arriving after the success (out of order): nothing changes.
    assert (await inventory.payment_event(drop["id"], order["id"], "succeeded", "pi_test_1", "tok2"))[0] == "unchanged"
    assert (await inventory.payment_event(drop["id"], order["id"], "failed", "pi_test_1"))[0] == "unchanged"
    assert (await inventory.payment_event(drop["id"], order["id"], "canceled", "pi_test_1"))[0] == "unchanged"
    live = await _live(inventory, drop, order)
    assert (live.status, live.share) == ("paid", "tok1")
    st = await stats(manual.client, operator.headers, drop["id"])
    assert (st["remaining"], st["reserved"], st["paid"]) == (0, 0, 1)


async def test_a_failed_payment_can_be_retried_and_the_order_still_waits(manual: Manual) -> None:
    inventory, drop, order, _ = await _order_with_payment(manual)
    assert (await inventory.payment_event(drop["id"], order["id"], "failed", "pi_test_1"))[0] == "failed"
    live = await _live(inventory, drop, order)
    assert (live.status, live.pay_status) == ("reserved", "failed")
    assert live.payment() == {"provider": "stripe", "status": "failed", "intent_id": "pi_test_1",
                              "client_secret": "pi_test_1_secret"}
    # The same provider again answers the same intent; a notice about another intent pays nothing.
    state, again = await inventory.begin_payment(drop["id"], order["id"], live.user_id, "stripe")
    assert state == "existing" and again is not None and again.pay_intent == "pi_test_1"
    assert (await inventory.payment_event(drop["id"], order["id"], "succeeded", "pi_other", "t"))[0] == "stale"
    assert (await _live(inventory, drop, order)).status == "reserved"


async def test_switching_provider_needs_the_open_payment_closed_first(manual: Manual) -> None:
    inventory, drop, order, _ = await _order_with_payment(manual)
    live = await _live(inventory, drop, order)
    state, _ = await inventory.begin_payment(drop["id"], order["id"], live.user_id, "alipay")
    assert state == "switch"
    state, switched = await inventory.begin_payment(drop["id"], order["id"], live.user_id, "alipay", replace=True)
    assert state == "begun" and switched is not None and (switched.pay_provider, switched.pay_attempt) == ("alipay", 2)
    # A test-card charge while a provider's payment is open could take the money twice: refused.
    held, _ = await inventory.hold_payment(drop["id"], order["id"], live.user_id)
    assert held == "busy"
    # The buyer's cancel must close it at the provider first.
    state, _ = await inventory.cancel(drop["id"], order["id"], live.user_id)
    assert state == "close_first"
    state, cancelled = await inventory.cancel(drop["id"], order["id"], live.user_id, payment_closed=True)
    assert state == "cancelled" and cancelled is not None and cancelled.pay_status == "canceled"


async def test_refund_of_a_paid_order_returns_its_units_while_the_drop_is_open(manual: Manual) -> None:
    inventory, drop, order, operator = await _order_with_payment(manual, stock=2)
    await inventory.payment_event(drop["id"], order["id"], "succeeded", "pi_test_1", "tok")
    state, refunded = await inventory.refund_paid(drop["id"], order["id"], "re_1")
    assert state == "refunded" and refunded is not None
    assert (refunded.status, refunded.pay_status, refunded.refund_ref) == ("refunded", "refunded", "re_1")
    assert (await inventory.refund_paid(drop["id"], order["id"], "re_2"))[0] == "was_refunded"
    st = await stats(manual.client, operator.headers, drop["id"])
    assert (st["remaining"], st["paid"]) == (2, 0)
    # The refund was streamed: the record shows it.
    seen = (await manual.client.get(f"/api/orders/{order['id']}", headers=operator.headers)).json()
    assert seen["status"] == "refunded" and seen["payment"]["status"] == "refunded"
