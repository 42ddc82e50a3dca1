"""The drop's report: totals and series from the record, refusals and the queue from Redis, payments by
provider and outcome, refunds, referrals; as JSON, as CSV and as a page; operators only."""
from __future__ import annotations

from tests.support import buy, create_drop, eventually, is_problem, make_account, make_accounts, pay, purchase
from tests.support.clock import Manual


async def test_the_report_adds_up_a_sale(manual: Manual) -> None:
    app, client = manual.app, manual.client
    operator = await make_account(app, "operator")
    buyers = await make_accounts(app, 6)
    drop = await create_drop(client, operator, stock=4, price_cents=1000, pay_window_seconds=600)
    orders = [await buy(client, b, drop["id"]) for b in buyers[:4]]
    assert is_problem(await purchase(client, drop["id"], buyers[4].headers), 409, "sold_out")
    for order, buyer in zip(orders[:3], buyers[:3], strict=True):
        await pay(client, buyer, order["id"])
    refund = await client.post(f"/api/admin/orders/{orders[0]['id']}/refund", headers=operator.headers)
    assert refund.status_code == 200 and refund.json()["status"] == "refunded"

    async def landed() -> bool:
        report = (await client.get(f"/api/admin/drops/{drop['id']}/report", headers=operator.headers)).json()
        return report["units"].get("paid") == 2 and report["units"].get("refunded") == 1

    await eventually(landed)
    report = (await client.get(f"/api/admin/drops/{drop['id']}/report", headers=operator.headers)).json()
    assert report["units"] == {"paid": 2, "refunded": 1, "reserved": 1, "remaining": 1}
    assert (report["revenue_cents"], report["refunded_orders"], report["refunded_cents"]) == (2000, 1, 1000)
    assert report["refusals"] == {"sold_out": 1} and report["attempts"] == 5
    assert {(p["provider"], p["status"], p["orders"]) for p in report["payments"]} == {
        ("test", "succeeded", 2), ("test", "refunded", 1)}
    assert sum(b["units_reserved"] for b in report["series"]) == 4
    assert sum(b["units_paid"] for b in report["series"]) == 2
    assert all(b["seconds"] == 1 for b in report["series"])  # the rush: per second
    stats = (await client.get(f"/api/admin/drops/{drop['id']}/stats", headers=operator.headers)).json()
    assert (stats["refunded"], stats["revenue_cents"]) == (1, 2000)

    csv = await client.get(f"/api/admin/drops/{drop['id']}/report.csv", headers=operator.headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith("\ufeff".encode()) and csv.text.splitlines()[-1].endswith(",4,2,2000")
    page = await client.get(f"/ops/report/{drop['id']}")
    assert page.status_code == 200 and "ops-report.js" in page.text


async def test_only_operators_read_reports(manual: Manual) -> None:
    app, client = manual.app, manual.client
    operator, shopper = await make_account(app, "operator"), await make_account(app)
    drop = await create_drop(client, operator, stock=1)
    for path in (f"/api/admin/drops/{drop['id']}/report", f"/api/admin/drops/{drop['id']}/report.csv"):
        assert is_problem(await client.get(path), 401, "unauthorized")
        assert is_problem(await client.get(path, headers=shopper.headers), 403, "forbidden")
    assert is_problem(await client.get("/api/admin/drops/999999/report", headers=operator.headers), 404,
                      "drop_not_found")
