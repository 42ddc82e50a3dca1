"""The fake Alipay gateway, driven only by `python-alipay-sdk` (its gateway URL set to the fake's) and
a browser's requests: the signed page-pay URL opens the hosted wallet, Pay sends the browser back with
signed parameters and posts the signed notify until the shop answers `success`; the SDK verifies
both (and refuses tampered ones); query, close (a paid trade cannot close), refund (once per
out_request_no); a request not signed by the app is refused."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from fakes.alipay_trades import CHINA
from fakes.keys import new_private_pem
from tests.support.fakes import PaymentFakes, receiver

# The providers' stand-ins alone: neither back end of the pass is reached.
pytestmark = pytest.mark.neutral


def trade_no() -> str:
    return f"fs-{time.time_ns()}"


def pay_url(fakes: PaymentFakes, out_trade_no: str, notify_url: str | None = None, *, amount: str = "5999.00",
            wap: bool = False, **extra: str) -> str:
    """What the shop sends the buyer to: the gateway URL and the SDK's signed query."""
    api = fakes.alipay_client().api_alipay_trade_wap_pay if wap else fakes.alipay_client().api_alipay_trade_page_pay
    query = api(subject="Mi Phone 15 Ultra 小米", out_trade_no=out_trade_no, total_amount=amount,
                return_url="http://shop.test/orders/41?paid=1", notify_url=notify_url, **extra)
    return f"{fakes.endpoints.alipay_gateway}?{query}"


def open_and_pay(url: str) -> httpx.Response:
    """The buyer's browser: open the pay URL (redirected to the wallet page), then press Pay."""
    with httpx.Client(follow_redirects=True, timeout=30) as browser:
        wallet = browser.get(url)
        assert wallet.status_code == 200 and "确认付款 Pay" in wallet.text, wallet.text
        return browser.post(str(wallet.url) + "/pay", follow_redirects=False)


def signed_fields(raw: str) -> tuple[dict[str, str], str]:
    fields = dict(parse_qsl(raw, keep_blank_values=True))
    return fields, fields.pop("sign")


def test_page_pay_wallet_pay_return_and_a_notify_the_sdk_verifies(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    with receiver() as shop:
        url = pay_url(payment_fakes, order, shop.url + "/api/payments/alipay/notify")
        assert alipay.api_alipay_trade_query(out_trade_no=order)["sub_code"] == "ACQ.TRADE_NOT_EXIST"
        paid = open_and_pay(url)
        notified = shop.wait_for(1)[0]
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert (back.netloc, back.path) == ("shop.test", "/orders/41")
    returned, signature = signed_fields(back.query)
    assert returned["paid"] == "1" and returned["out_trade_no"] == order and returned["total_amount"] == "5999.00"
    returned.pop("paid")  # the shop's own parameter, not Alipay's
    assert alipay.verify(returned, signature)
    assert notified.path == "/api/payments/alipay/notify"
    assert notified.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    notice, signature = signed_fields(notified.body.decode())
    assert notice["sign_type"] == "RSA2" and notice["trade_status"] == "TRADE_SUCCESS"
    assert (notice["out_trade_no"], notice["total_amount"], notice["app_id"]) == (order, "5999.00",
                                                                                   payment_fakes.keys.alipay_app_id)
    assert notice["notify_id"] and notice["trade_no"]
    assert alipay.verify(dict(notice), signature)
    for field, forged in (("total_amount", "0.01"), ("trade_status", "TRADE_CLOSED"), ("out_trade_no", "fs-other")):
        assert not alipay.verify({**notice, field: forged}, signature)
    assert not alipay.verify(dict(notice), signature[:-8] + "AAAAAAA=")
    queried = alipay.api_alipay_trade_query(out_trade_no=order)
    assert (queried["code"], queried["trade_status"], queried["trade_no"]) == ("10000", "TRADE_SUCCESS",
                                                                               notice["trade_no"])
    assert queried["total_amount"] == "5999.00" and queried["send_pay_date"]


def test_wap_pay_and_the_control_endpoint_pay_without_a_browser(payment_fakes: PaymentFakes) -> None:
    order = trade_no()
    with receiver() as shop:
        url = pay_url(payment_fakes, order, shop.url + "/notify", wap=True, amount="399.00")
        trade = payment_fakes.control("alipay", "POST", "/_fake/pay", url=url)
        notice, _ = signed_fields(shop.wait_for(1)[0].body.decode())
    assert trade["trade_status"] == "TRADE_SUCCESS" and trade["total_amount"] == "399.00"
    assert notice["out_trade_no"] == order
    listed = payment_fakes.control("alipay", "GET", "/_fake/trades")
    assert isinstance(listed, list) and any(t["out_trade_no"] == order for t in listed)


def test_close_an_unpaid_trade_then_it_cannot_be_paid(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    url = pay_url(payment_fakes, order)
    with httpx.Client(follow_redirects=True) as browser:
        wallet = browser.get(url)
        closed = alipay.api_alipay_trade_close(out_trade_no=order)
        assert (closed["code"], closed["out_trade_no"]) == ("10000", order)
        assert alipay.api_alipay_trade_query(out_trade_no=order)["trade_status"] == "TRADE_CLOSED"
        assert browser.post(str(wallet.url) + "/pay").status_code == 409
        assert browser.get(url).status_code == 400  # ACQ.TRADE_HAS_CLOSE
    again = alipay.api_alipay_trade_close(out_trade_no=order)
    assert (again["code"], again["sub_code"]) == ("40004", "ACQ.TRADE_STATUS_ERROR")


def test_a_paid_trade_cannot_close_and_an_unknown_one_does_not_exist(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    open_and_pay(pay_url(payment_fakes, order))
    refused = alipay.api_alipay_trade_close(out_trade_no=order)
    assert (refused["code"], refused["msg"], refused["sub_code"]) == ("40004", "Business Failed",
                                                                      "ACQ.TRADE_STATUS_ERROR")
    unknown = alipay.api_alipay_trade_close(out_trade_no=trade_no())
    assert unknown["sub_code"] == "ACQ.TRADE_NOT_EXIST"


def test_a_trade_past_its_time_expire_closes_unpaid(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    soon = (datetime.now(CHINA) + timedelta(seconds=2)).replace(microsecond=0)  # to the second, as Alipay takes it
    url = pay_url(payment_fakes, order, time_expire=soon.strftime("%Y-%m-%d %H:%M:%S"))
    with httpx.Client(follow_redirects=True) as browser:
        wallet = browser.get(url)
        assert wallet.status_code == 200, wallet.text
        time.sleep((soon - datetime.now(CHINA)).total_seconds() + 0.1)
        assert browser.post(str(wallet.url) + "/pay").status_code == 409
    assert alipay.api_alipay_trade_query(out_trade_no=order)["trade_status"] == "TRADE_CLOSED"
    past = (datetime.now(CHINA) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert httpx.get(pay_url(payment_fakes, trade_no(), time_expire=past), follow_redirects=True).status_code == 400


def test_refund_is_once_per_out_request_no(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    unpaid = alipay.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=trade_no())
    assert unpaid["sub_code"] == "ACQ.TRADE_NOT_EXIST"
    open_and_pay(pay_url(payment_fakes, order))
    first = alipay.api_alipay_trade_refund(refund_amount="5999.00", out_trade_no=order, out_request_no="r1")
    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "5999.00")
    again = alipay.api_alipay_trade_refund(refund_amount="5999.00", out_trade_no=order, out_request_no="r1")
    assert (again["code"], again["fund_change"], again["refund_fee"]) == ("10000", "N", "5999.00")
    more = alipay.api_alipay_trade_refund(refund_amount="1.00", out_trade_no=order, out_request_no="r2")
    assert more["code"] == "40004"
    assert alipay.api_alipay_trade_query(out_trade_no=order)["trade_status"] == "TRADE_CLOSED"
    found = alipay.api_alipay_trade_fastpay_refund_query("r1", out_trade_no=order)
    assert (found["refund_status"], found["refund_amount"]) == ("REFUND_SUCCESS", "5999.00")


def test_a_partial_refund_over_the_rest_is_refused(payment_fakes: PaymentFakes) -> None:
    alipay, order = payment_fakes.alipay_client(), trade_no()
    open_and_pay(pay_url(payment_fakes, order, amount="100.00"))
    assert alipay.api_alipay_trade_refund(refund_amount="60.00", out_trade_no=order, out_request_no="a")["code"] == \
        "10000"
    over = alipay.api_alipay_trade_refund(refund_amount="60.00", out_trade_no=order, out_request_no="b")
    assert over["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert alipay.api_alipay_trade_query(out_trade_no=order)["trade_status"] == "TRADE_SUCCESS"


def test_requests_not_signed_by_the_app_are_refused(payment_fakes: PaymentFakes) -> None:
    stranger = payment_fakes.alipay_client(new_private_pem())
    refused = stranger.api_alipay_trade_query(out_trade_no=trade_no())
    assert (refused["code"], refused["sub_code"]) == ("40002", "isv.invalid-signature")
    url = pay_url(payment_fakes, trade_no(), amount="5999.00")
    tampered = url.replace("5999.00", "0.01")
    assert tampered != url
    page = httpx.get(tampered, follow_redirects=True)
    assert page.status_code == 400 and "invalid-signature" in page.text
    assert httpx.get(pay_url(payment_fakes, trade_no()).replace("app_id=", "app_id=1"),
                     follow_redirects=True).status_code == 400


def test_the_notify_is_resent_until_the_shop_answers_success(payment_fakes: PaymentFakes) -> None:
    order = trade_no()
    with receiver(lambda n: (200, b"fail") if n == 1 else (500, b"") if n == 2 else (200, b"success")) as shop, \
            payment_fakes.chaos("alipay"):
        payment_fakes.control("alipay", "POST", "/_fake/pay", url=pay_url(payment_fakes, order, shop.url))
        tries = shop.wait_for(3)
        stats = payment_fakes.drain("alipay")
    assert len({dict(parse_qsl(t.body.decode()))["notify_id"] for t in tries}) == 1
    assert (stats["sent"], stats["retried"], stats["delivered"], stats["failed"]) == (3, 2, 1, 0), stats


@pytest.mark.parametrize("method", ["alipay.trade.nothing", ""])
def test_an_unknown_method_is_an_error_response(payment_fakes: PaymentFakes, method: str) -> None:
    answer = httpx.get(payment_fakes.endpoints.alipay_gateway, params={"method": method}).json()
    assert answer["error_response"]["code"] == "40002"
