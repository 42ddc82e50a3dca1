"""The fake Alipay's trades and the rules of their states: a trade exists once the buyer opens the
pay page (WAIT_BUYER_PAY), is paid (TRADE_SUCCESS), closed unpaid (TRADE_CLOSED: by
`alipay.trade.close` or when its time_expire / timeout_express passes), and closed again by a full
refund. Errors are Alipay's business errors (`AlipayFault`: code 40004 and an ACQ.* sub_code)."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
DEFAULT_TIMEOUT = timedelta(days=15)  # Alipay's default for an unpaid page or wap trade
MIN_AMOUNT, MAX_AMOUNT = Decimal("0.01"), Decimal("100000000.00")
PAID = ("TRADE_SUCCESS", "TRADE_FINISHED")


class AlipayFault(Exception):
    def __init__(self, sub_code: str, sub_msg: str, code: str = "40004", msg: str = "Business Failed") -> None:
        super().__init__(f"{sub_code}: {sub_msg}")
        self.code, self.msg, self.sub_code, self.sub_msg = code, msg, sub_code, sub_msg


def china_now() -> datetime:
    return datetime.now(CHINA)


def stamp(moment: datetime) -> str:
    """Alipay's time format, in China time: 2026-05-01 12:00:00."""
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def money(value: object, name: str) -> Decimal:
    """Yuan as Alipay takes them: a decimal with at most two places, 0.01 to 100000000.00."""
    try:
        amount = Decimal(str(value)) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.quantize(Decimal("0.01")) \
            or not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise AlipayFault("ACQ.INVALID_PARAMETER", f"参数无效 ({name})")
    return amount.quantize(Decimal("0.01"))


def yuan(amount: Decimal) -> str:
    return f"{amount:.2f}"


def expiry(opened: datetime, time_expire: object, timeout_express: object) -> datetime:
    """When an unpaid trade closes: `time_expire` (China time) or `timeout_express` (`90m`, `2h`, `1d`,
    `1c` = the end of the day), else Alipay's default of 15 days."""
    if isinstance(time_expire, str) and time_expire:
        for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                return datetime.strptime(time_expire, pattern).replace(tzinfo=CHINA)
            except ValueError:
                continue
        raise AlipayFault("ACQ.INVALID_PARAMETER", "参数无效 (time_expire)")
    if isinstance(timeout_express, str) and timeout_express:
        match = re.fullmatch(r"(\d{1,5})([mhdc])", timeout_express)
        if match is None:
            raise AlipayFault("ACQ.INVALID_PARAMETER", "参数无效 (timeout_express)")
        count, unit = int(match.group(1)), match.group(2)
        if unit == "c":
            local = opened.astimezone(CHINA)
            return local.replace(hour=23, minute=59, second=59, microsecond=0)
        return opened + {"m": timedelta(minutes=count), "h": timedelta(hours=count), "d": timedelta(days=count)}[unit]
    return opened + DEFAULT_TIMEOUT


@dataclass(frozen=True)
class TradeRefund:
    out_request_no: str
    amount: Decimal
    at: datetime
    reason: str | None


@dataclass
class Trade:
    out_trade_no: str
    trade_no: str
    subject: str
    total_amount: Decimal
    method: str  # alipay.trade.page.pay or alipay.trade.wap.pay
    notify_url: str | None
    return_url: str | None
    opened: datetime
    expires: datetime
    wallet_token: str
    status: str = "WAIT_BUYER_PAY"
    paid_at: datetime | None = None
    buyer_id: str = field(default_factory=lambda: "2088" + "".join(secrets.choice("0123456789") for _ in range(12)))
    refunds: dict[str, TradeRefund] = field(default_factory=dict)

    @property
    def refunded(self) -> Decimal:
        return sum((refund.amount for refund in self.refunds.values()), Decimal("0.00"))

    @property
    def buyer_logon_id(self) -> str:
        return f"{self.buyer_id[-3:]}***@example.com"

    def summary(self) -> dict[str, str | None]:
        """What the control endpoint shows of a trade."""
        return {"out_trade_no": self.out_trade_no, "trade_no": self.trade_no, "trade_status": self.status,
                "total_amount": yuan(self.total_amount), "refund_fee": yuan(self.refunded),
                "opened": stamp(self.opened), "time_expire": stamp(self.expires),
                "gmt_payment": stamp(self.paid_at) if self.paid_at else None}


def new_trade_no(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y%m%d}22001" + "".join(secrets.choice("0123456789") for _ in range(15))


class TradeBook:
    """Every trade the fake gateway knows, in memory."""

    def __init__(self) -> None:
        self.trades: dict[str, Trade] = {}
        self._by_trade_no: dict[str, str] = {}
        self._by_token: dict[str, str] = {}

    def settle(self, trade: Trade) -> Trade:
        """Closes an unpaid trade whose time has passed (Alipay does it on its own; here when next read)."""
        if trade.status == "WAIT_BUYER_PAY" and china_now() >= trade.expires:
            trade.status = "TRADE_CLOSED"
        return trade

    def open(self, biz: dict[str, object], method: str, notify_url: str | None, return_url: str | None) -> Trade:
        """The trade a pay page is for: made the first time the buyer opens it, the same one afterwards."""
        out_trade_no, subject = biz.get("out_trade_no"), biz.get("subject")
        if not isinstance(out_trade_no, str) or not 0 < len(out_trade_no) <= 64:
            raise AlipayFault("ACQ.INVALID_PARAMETER", "参数无效 (out_trade_no)")
        if not isinstance(subject, str) or not subject:
            raise AlipayFault("ACQ.INVALID_PARAMETER", "参数无效 (subject)")
        amount = money(biz.get("total_amount"), "total_amount")
        existing = self.trades.get(out_trade_no)
        if existing is not None:
            self.settle(existing)
            if existing.total_amount != amount or existing.subject != subject:
                raise AlipayFault("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
            if existing.status in PAID:
                raise AlipayFault("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
            if existing.status == "TRADE_CLOSED":
                raise AlipayFault("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            return existing
        opened = china_now()
        expires = expiry(opened, biz.get("time_expire"), biz.get("timeout_express"))
        if expires <= opened:
            raise AlipayFault("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        trade = Trade(out_trade_no=out_trade_no, trade_no=new_trade_no(opened), subject=subject,
                      total_amount=amount, method=method, notify_url=notify_url, return_url=return_url,
                      opened=opened, expires=expires, wallet_token=secrets.token_urlsafe(24))
        self.trades[out_trade_no] = trade
        self._by_trade_no[trade.trade_no] = out_trade_no
        self._by_token[trade.wallet_token] = out_trade_no
        return trade

    def by_token(self, token: str) -> Trade | None:
        found = self._by_token.get(token)
        return self.settle(self.trades[found]) if found is not None else None

    def find(self, biz: dict[str, object]) -> Trade:
        """The trade named by out_trade_no or trade_no; ACQ.TRADE_NOT_EXIST for one never opened."""
        out_trade_no, trade_no = biz.get("out_trade_no"), biz.get("trade_no")
        if not out_trade_no and not trade_no:
            raise AlipayFault("ACQ.INVALID_PARAMETER", "参数无效 (out_trade_no, trade_no)")
        if not out_trade_no and isinstance(trade_no, str):
            out_trade_no = self._by_trade_no.get(trade_no)
        trade = self.trades.get(out_trade_no) if isinstance(out_trade_no, str) else None
        if trade is None or (trade_no and trade.trade_no != trade_no):
            raise AlipayFault("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return self.settle(trade)

    def pay(self, trade: Trade) -> bool:
        """The buyer pays: True when this made it TRADE_SUCCESS, False if it already was."""
        self.settle(trade)
        if trade.status in PAID:
            return False
        if trade.status != "WAIT_BUYER_PAY":
            raise AlipayFault("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        trade.status, trade.paid_at = "TRADE_SUCCESS", china_now()
        return True

    def close(self, trade: Trade) -> None:
        """Only an unpaid trade closes (ACQ.TRADE_STATUS_ERROR otherwise: paid, or closed already)."""
        if trade.status != "WAIT_BUYER_PAY":
            raise AlipayFault("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status = "TRADE_CLOSED"

    def refund(self, trade: Trade, amount: Decimal, out_request_no: str,
               reason: str | None) -> tuple[TradeRefund, bool]:
        """A refund, once per out_request_no: (the refund, whether money moved now)."""
        done = trade.refunds.get(out_request_no)
        if done is not None:
            return done, False
        if trade.status not in PAID:
            raise AlipayFault("ACQ.TRADE_STATUS_ERROR" if trade.status == "WAIT_BUYER_PAY" else "ACQ.TRADE_HAS_CLOSE",
                              "交易状态不合法" if trade.status == "WAIT_BUYER_PAY" else "交易已经关闭")
        if trade.refunded + amount > trade.total_amount:
            raise AlipayFault("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
        refund = TradeRefund(out_request_no=out_request_no, amount=amount, at=china_now(), reason=reason)
        trade.refunds[out_request_no] = refund
        if trade.refunded == trade.total_amount:
            trade.status = "TRADE_CLOSED"
        return refund, True
