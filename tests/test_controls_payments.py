"""Cancelling a drop while its buyers pay at a provider (the stand-ins): a reservation whose payment is
open is closed at the provider before its units go back (close before release), one whose payment
succeeded meanwhile stays paid, and `refund_paid` hands the paid orders to the bulk refund."""
from __future__ import annotations

from typing import Any

from tests.support import create_drop, eventually, make_account, make_accounts, purchase
from tests.support.payments import Paying


async def test_cancel_closes_open_payments_first_and_refunds_the_paid(paying: Paying) -> None:
    p = paying
    await p.http.post(f"{p.endpoints.stripe_api_base}/_fake/deliveries/chaos", json={"delay_min": 1.0,
                                                                                      "delay_max": 2.0})
    operator = await make_account(p.app, "operator")
    opened, confirmed, plain = await make_accounts(p.app, 3)
    drop = await create_drop(p.client, operator, stock=5, pay_window_seconds=600)
    orders = {}
    for buyer in (opened, confirmed, plain):
        orders[buyer.id] = (await purchase(p.client, drop["id"], buyer.headers)).json()
    payments = {}
    for buyer in (opened, confirmed):
        answer = await p.client.post(f"/api/orders/{orders[buyer.id]['id']}/pay", json={"provider": "stripe"},
                                     headers=buyer.headers)
        assert answer.status_code == 200, answer.text
        payments[buyer.id] = answer.json()["payment"]
    # Paid at Stripe; its webhook is 1-2 s away: the cancel's close finds it succeeded.
    assert (await p.stripe_confirm(payments[confirmed.id])).status_code == 200

    cancelled = await p.client.post(f"/api/admin/drops/{drop['id']}/cancel", json={"refund_paid": True},
                                    headers=operator.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["released"] == 2  # the plain reservation, then the one closed at Stripe

    async def status(buyer: Any) -> str:
        order = await p.client.get(f"/api/orders/{orders[buyer.id]['id']}", headers=buyer.headers)
        return str(order.json()["status"])

    assert await status(plain) == "cancelled" and await status(opened) == "cancelled"
    intent = await p.stripe_client().v1.payment_intents.retrieve_async(payments[opened.id]["intent_id"])
    assert intent.status == "canceled"

    async def refunded() -> bool:  # paid at the close, then refunded by the bulk refund the cancel asked for
        return await status(confirmed) == "refunded"

    await eventually(refunded, timeout=15)
    # After the end a refunded unit is counted as refunded, not put back on sale (refund.lua).
    st = (await p.client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (st["reserved"], st["paid"], st["cancelled"], st["remaining"]) == (0, 0, 2, 4)
