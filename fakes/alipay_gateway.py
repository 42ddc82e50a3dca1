"""A fake Alipay open-API gateway (`/gateway.do`) as `python-alipay-sdk` calls it once its gateway URL
(`AliPay._gateway`) points here. It has its own RSA2 key pair and knows the app's public key.

- `alipay.trade.page.pay` / `alipay.trade.wap.pay`: the buyer's browser opens gateway URL + the signed
  query; the app's signature is checked and the buyer sent on to a hosted wallet page (Pay, Cancel).
  Pay makes the trade TRADE_SUCCESS, sends the browser to `return_url` with signed parameters, and
  posts the signed async notify to `notify_url`, again until the answer is `success` (bounded).
- `alipay.trade.query`, `alipay.trade.close`, `alipay.trade.refund` (once per out_request_no),
  `alipay.trade.fastpay.refund.query`: JSON answers `{"<method>_response": {...}, "sign": "..."}`
  signed by the gateway, which the SDK verifies.
Control (not Alipay's): `POST /_fake/pay` {"url": the pay URL} opens and pays a trade without a browser;
`POST /_fake/trades/{out_trade_no}/pay`; `GET /_fake/trades`; `/_fake/deliveries...` (fakes/control.py)."""
from __future__ import annotations

import hmac
import json
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fakes import alipay_sign
from fakes.alipay_pages import message_page, wallet_page
from fakes.alipay_trades import PAID, AlipayFault, Trade, TradeBook, china_now, money, stamp, yuan
from fakes.control import delivery_routes, json_object
from fakes.delivery import Deliverer, Notice

PAY_METHODS = ("alipay.trade.page.pay", "alipay.trade.wap.pay")
SELLER_ID = "2088000000000001"


class FakeAlipay:
    """The gateway's state and its ASGI app (`.app`). Call its methods only from the loop serving it."""

    def __init__(self, *, app_id: str, app_public_pem: str, gateway_private_pem: str,
                 deliverer: Deliverer | None = None) -> None:
        self.app_id = app_id
        self._app_key = alipay_sign.load_public(app_public_pem)
        self._key = alipay_sign.load_private(gateway_private_pem)
        self.deliverer = deliverer or Deliverer()
        self.book = TradeBook()
        self.app = Starlette(routes=[
            Route("/gateway.do", self._gateway, methods=["GET", "POST"]),
            Route("/wallet/{token}", self._wallet, methods=["GET"]),
            Route("/wallet/{token}/{action}", self._wallet_action, methods=["POST"]),
            Route("/_fake/pay", self._fake_pay, methods=["POST"]),
            Route("/_fake/trades", self._fake_trades, methods=["GET"]),
            Route("/_fake/trades/{out_trade_no}/pay", self._fake_pay_trade, methods=["POST"]),
            *delivery_routes(self.deliverer)])

    # -- answers --------------------------------------------------------------------------------------
    def _answer(self, response_type: str, payload: dict[str, object]) -> Response:
        """`{"<type>": {...}, "sign": "..."}`, signed over the exact text of the inner object."""
        inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        body = f'{{"{response_type}":{inner},"sign":"{alipay_sign.sign(self._key, inner)}"}}'
        return Response(body, media_type="application/json;charset=utf-8")

    @staticmethod
    def _fault(fault: AlipayFault, **extra: str) -> dict[str, object]:
        return {"code": fault.code, "msg": fault.msg, "sub_code": fault.sub_code, "sub_msg": fault.sub_msg, **extra}

    def _check(self, params: dict[str, str]) -> dict[str, object]:
        """The app id and the signature of a request, then its biz_content (AlipayFault otherwise)."""
        if not hmac.compare_digest(params.get("app_id", ""), self.app_id):
            raise AlipayFault("isv.invalid-app-id", "无效的AppID参数", "40002", "Invalid Arguments")
        if not alipay_sign.verify_request(self._app_key, params):
            raise AlipayFault("isv.invalid-signature", "验签出错", "40002", "Invalid Arguments")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            raise AlipayFault("isv.invalid-parameter", "参数无效 (biz_content)", "40002", "Invalid Arguments")
        return biz

    # -- the gateway ----------------------------------------------------------------------------------
    async def _gateway(self, request: Request) -> Response:
        params = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if request.method == "POST":
            params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        method = params.get("method", "")
        if method in PAY_METHODS:
            try:
                trade = self._open(params)
            except AlipayFault as fault:
                return message_page("支付错误 Payment error", f"{fault.sub_code}: {fault.sub_msg}", 400)
            return RedirectResponse(f"/wallet/{trade.wallet_token}", status_code=302)
        handler = {"alipay.trade.query": self._query, "alipay.trade.close": self._close,
                   "alipay.trade.refund": self._refund, "alipay.trade.fastpay.refund.query": self._refund_query
                   }.get(method)
        if handler is None:
            sub_code = "isv.missing-method" if not method else "isv.invalid-method"
            return JSONResponse({"error_response": {"code": "40002", "msg": "Invalid Arguments",
                                                    "sub_code": sub_code, "sub_msg": "不存在的方法名"}})
        response_type = method.replace(".", "_") + "_response"
        try:
            payload = handler(self._check(params))
        except AlipayFault as fault:
            payload = self._fault(fault)
        return self._answer(response_type, payload)

    def _open(self, params: dict[str, str]) -> Trade:
        biz = self._check(params)
        return self.book.open(biz, params["method"], params.get("notify_url") or None,
                              params.get("return_url") or None)

    def _query(self, biz: dict[str, object]) -> dict[str, object]:
        trade = self.book.find(biz)
        answer: dict[str, object] = {
            "code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
            "trade_status": trade.status, "total_amount": yuan(trade.total_amount)}
        if trade.paid_at is not None:
            answer.update(buyer_logon_id=trade.buyer_logon_id, buyer_user_id=trade.buyer_id,
                          buyer_pay_amount=yuan(trade.total_amount), receipt_amount=yuan(trade.total_amount),
                          invoice_amount=yuan(trade.total_amount), point_amount="0.00",
                          send_pay_date=stamp(trade.paid_at))
        return answer

    def _close(self, biz: dict[str, object]) -> dict[str, object]:
        trade = self.book.find(biz)
        try:
            self.book.close(trade)
        except AlipayFault as fault:
            return self._fault(fault, out_trade_no=trade.out_trade_no, trade_no=trade.trade_no)
        return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}

    def _refund(self, biz: dict[str, object]) -> dict[str, object]:
        trade = self.book.find(biz)
        amount = money(biz.get("refund_amount"), "refund_amount")
        request_no = biz.get("out_request_no") or trade.out_trade_no
        reason = biz.get("refund_reason")
        refund, moved = self.book.refund(trade, amount, str(request_no), reason if isinstance(reason, str) else None)
        return {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                "buyer_logon_id": trade.buyer_logon_id, "buyer_user_id": trade.buyer_id,
                "fund_change": "Y" if moved else "N", "refund_fee": yuan(trade.refunded),
                "send_back_fee": yuan(refund.amount), "gmt_refund_pay": stamp(refund.at)}

    def _refund_query(self, biz: dict[str, object]) -> dict[str, object]:
        trade = self.book.find(biz)
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        answer: dict[str, object] = {"code": "10000", "msg": "Success", "out_trade_no": trade.out_trade_no,
                                     "trade_no": trade.trade_no, "out_request_no": request_no}
        refund = trade.refunds.get(request_no)
        if refund is not None:  # an unknown refund answers Success without the refund's fields, as Alipay does
            answer.update(refund_amount=yuan(refund.amount), total_amount=yuan(trade.total_amount),
                          refund_status="REFUND_SUCCESS", gmt_refund_pay=stamp(refund.at))
        return answer

    # -- paying ------------------------------------------------------------------------------------
    def pay(self, trade: Trade) -> None:
        """The buyer pays (AlipayFault if the trade is closed); the first time, the notify goes out."""
        if self.book.pay(trade) and trade.notify_url:
            self._notify(trade)

    def _notify(self, trade: Trade) -> None:
        assert trade.paid_at is not None and trade.notify_url is not None
        amount = yuan(trade.total_amount)
        params = alipay_sign.signed_notice(self._key, {
            "notify_time": stamp(china_now()), "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16), "charset": "utf-8", "version": "1.0", "app_id": self.app_id,
            "auth_app_id": self.app_id, "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "trade_status": trade.status, "subject": trade.subject, "total_amount": amount,
            "receipt_amount": amount, "invoice_amount": amount, "buyer_pay_amount": amount, "point_amount": "0.00",
            "buyer_id": trade.buyer_id, "buyer_logon_id": trade.buyer_logon_id, "seller_id": SELLER_ID,
            "gmt_create": stamp(trade.opened), "gmt_payment": stamp(trade.paid_at),
            "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":"))})
        body = urlencode(params).encode("utf-8")
        self.deliverer.submit(Notice(
            url=trade.notify_url, body=body, label=f"notify {params['notify_id']}",
            headers=lambda: {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            accepted=lambda status, body: status == 200 and body.strip() == b"success"))

    def _return_url(self, trade: Trade) -> str | None:
        """Where the browser goes after paying: return_url with the signed synchronous parameters."""
        if trade.return_url is None:
            return None
        params = alipay_sign.signed_notice(self._key, {
            "charset": "utf-8", "method": trade.method + ".return", "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no, "total_amount": yuan(trade.total_amount), "seller_id": SELLER_ID,
            "app_id": self.app_id, "auth_app_id": self.app_id, "version": "1.0", "timestamp": stamp(china_now())})
        return trade.return_url + ("&" if urlsplit(trade.return_url).query else "?") + urlencode(params)

    async def _wallet(self, request: Request) -> Response:
        trade = self.book.by_token(request.path_params["token"])
        if trade is None:
            return message_page("找不到交易 Not found", "This payment page does not exist.", 404)
        if trade.status in PAID:
            return message_page("已付款 Paid", f"Order {trade.out_trade_no} is paid.")
        if trade.status != "WAIT_BUYER_PAY":
            return message_page("交易已关闭 Closed", f"Order {trade.out_trade_no} can no longer be paid.", 409)
        return wallet_page(trade)

    async def _wallet_action(self, request: Request) -> Response:
        trade = self.book.by_token(request.path_params["token"])
        action = request.path_params["action"]
        if trade is None or action not in ("pay", "cancel"):
            return message_page("找不到交易 Not found", "This payment page does not exist.", 404)
        if action == "pay":
            try:
                self.pay(trade)
            except AlipayFault:
                return message_page("交易已关闭 Closed", f"Order {trade.out_trade_no} can no longer be paid.", 409)
            target = self._return_url(trade)
        else:  # the buyer leaves: the trade stays unpaid until it is closed or expires
            target = trade.return_url
        if target is None:
            return message_page("已付款 Paid" if action == "pay" else "已取消 Cancelled", trade.out_trade_no)
        return RedirectResponse(target, status_code=303)

    # -- control (not Alipay's) ----------------------------------------------------------------------
    async def _fake_pay(self, request: Request) -> Response:
        """Opens the trade of a pay URL (checked like the browser's visit) and pays it."""
        try:
            url = (await json_object(request)).get("url")
            if not isinstance(url, str):
                raise ValueError("give the pay URL as {\"url\": ...}")
            params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
            if params.get("method") not in PAY_METHODS:
                raise ValueError("not a page or wap pay URL")
            trade = self._open(params)
            self.pay(trade)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except AlipayFault as fault:
            return JSONResponse({"error": fault.sub_code, "message": fault.sub_msg}, status_code=409)
        return JSONResponse(trade.summary())

    async def _fake_pay_trade(self, request: Request) -> Response:
        try:
            trade = self.book.find({"out_trade_no": request.path_params["out_trade_no"]})
            self.pay(trade)
        except AlipayFault as fault:
            return JSONResponse({"error": fault.sub_code, "message": fault.sub_msg},
                                status_code=404 if fault.sub_code == "ACQ.TRADE_NOT_EXIST" else 409)
        return JSONResponse(trade.summary())

    async def _fake_trades(self, _request: Request) -> Response:
        return JSONResponse([self.book.settle(trade).summary() for trade in self.book.trades.values()])
