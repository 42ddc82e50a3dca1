"""Alipay through python-alipay-sdk: page pay (a signed redirect), the async notify (verified with RSA2
by the SDK), alipay.trade.close, refund and query. The SDK is synchronous: its calls run in a thread,
with the provider timeout."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig

from sale.exceptions import BadSignature
from sale.payments.provider import (
    PROVIDER_TIMEOUT_SECONDS,
    CloseOutcome,
    Notice,
    PaymentRequest,
    ProviderError,
    RemotePayment,
    RemoteStatus,
    Started,
)

BEIJING = ZoneInfo("Asia/Shanghai")  # Alipay's times (time_expire, notify_time) are Beijing time
_TRADE: dict[str, RemoteStatus] = {"WAIT_BUYER_PAY": "pending", "TRADE_SUCCESS": "succeeded",
                                   "TRADE_FINISHED": "succeeded", "TRADE_CLOSED": "canceled"}
# Alipay resends a notice for about a day; one older than this is a replay, not a retry.
NOTICE_MAX_AGE = timedelta(hours=48)
CALL_FAILED = (AliPayException, AliPayValidationError, OSError, ValueError)


def order_of(trade_no: str) -> str:
    """The order id in a trade number: order ids are "<drop>-<token>", a later attempt adds "-<n>"."""
    return "-".join(trade_no.split("-")[:2])


def yuan(amount_cents: int) -> str:
    return str((Decimal(amount_cents) / 100).quantize(Decimal("0.01")))


class AlipayProvider:
    name = "alipay"

    def __init__(self, app_id: str, app_private_key: str, alipay_public_key: str, gateway: str,
                 notify_url: str, return_url: str) -> None:
        self._app_id = app_id
        self._client = AliPay(appid=app_id, app_notify_url=notify_url, app_private_key_string=app_private_key,
                              alipay_public_key_string=alipay_public_key, sign_type="RSA2",
                              config=AliPayConfig(timeout=PROVIDER_TIMEOUT_SECONDS))
        if gateway:
            self._client._gateway = gateway  # the SDK's one gateway setting (a sandbox, or the local fake)
        self._gateway = self._client._gateway
        self._return_url = return_url

    def offers(self, currency: str) -> bool:
        return currency.upper() == "CNY"

    async def aclose(self) -> None:
        """The SDK opens a connection per call (urllib, in a thread): nothing stays open."""

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await asyncio.wait_for(
                asyncio.to_thread(getattr(self._client, method), **kwargs), PROVIDER_TIMEOUT_SECONDS + 1)
        except (*CALL_FAILED, TimeoutError) as exc:
            raise ProviderError(f"alipay: {method} failed ({type(exc).__name__})") from exc
        return result

    async def start(self, payment: PaymentRequest) -> Started:
        # Signed locally: the trade exists at Alipay once the buyer opens the page. time_expire makes
        # Alipay refuse the money after the order's pay-by.
        expire = datetime.fromtimestamp(payment.pay_by_ms / 1000, UTC).astimezone(BEIJING)
        query = self._client.api_alipay_trade_page_pay(
            subject=payment.subject[:128], out_trade_no=payment.key, total_amount=yuan(payment.amount_cents),
            return_url=f"{self._return_url}#order-{payment.order_id}",
            time_expire=expire.strftime("%Y-%m-%d %H:%M:%S"))
        return Started(payment.key, f"{self._gateway}?{query}")

    async def close(self, intent: str) -> CloseOutcome:
        answer = await self._call("api_alipay_trade_close", out_trade_no=intent)
        if answer.get("code") == "10000":
            return "closed"
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return "closed"  # never opened; past its time_expire it cannot be paid any more
        found = await self.lookup(intent)
        if found.status == "succeeded":
            return "succeeded"
        if found.status == "canceled":
            return "closed"
        raise ProviderError(f"alipay: close refused ({answer.get('sub_code')})")

    async def refund(self, intent: str, amount_cents: int, currency: str, key: str) -> str:
        answer = await self._call("api_alipay_trade_refund", refund_amount=yuan(amount_cents), out_trade_no=intent,
                                  out_request_no=key)
        if answer.get("code") != "10000":
            raise ProviderError(f"alipay: refund refused ({answer.get('sub_code')})")
        return f"{answer.get('trade_no', intent)}:{key}"

    async def lookup(self, intent: str) -> RemotePayment:
        answer = await self._call("api_alipay_trade_query", out_trade_no=intent)
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return RemotePayment(intent, order_of(intent), "unknown", None)
        if answer.get("code") != "10000":
            raise ProviderError(f"alipay: query refused ({answer.get('sub_code')})")
        status = _TRADE.get(str(answer.get("trade_status")), "unknown")
        amount = answer.get("total_amount")
        return RemotePayment(intent, order_of(intent), status,
                             int(Decimal(str(amount)) * 100) if amount is not None else None)

    async def since(self, since: datetime) -> list[RemotePayment] | None:
        return None  # Alipay has no list of trades: reconcile queries each order's trade

    def verify(self, body: bytes, signature: str | None) -> Notice | None:
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise BadSignature("The notice is not a form") from None
        sign = form.pop("sign", "")
        try:
            valid = bool(sign) and self._client.verify(dict(form), sign)
        except (*CALL_FAILED, TypeError, IndexError):
            valid = False
        if not valid or form.get("app_id") != self._app_id:
            raise BadSignature()
        try:
            sent = datetime.strptime(form.get("notify_time", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
        except ValueError:
            raise BadSignature("The notice has no valid notify_time") from None
        if datetime.now(UTC) - sent > NOTICE_MAX_AGE:
            raise BadSignature("The notice is stale")
        status = _TRADE.get(form.get("trade_status", ""))
        trade = form.get("out_trade_no", "")
        if status not in ("succeeded", "canceled") or not trade or not form.get("notify_id"):
            return None
        try:
            amount = int(Decimal(form.get("total_amount", "")) * 100)
        except ArithmeticError:
            amount = None
        return Notice(event_id=form["notify_id"], kind=status, intent=trade, order_id=order_of(trade),
                      amount_cents=amount)

    def acknowledge(self) -> tuple[bytes, str]:
        return b"success", "text/plain"
