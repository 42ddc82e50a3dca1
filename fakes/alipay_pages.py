"""The fake Alipay's hosted pages: the "wallet" a buyer is sent to (Pay / Cancel) and its messages."""
from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse

from fakes.alipay_trades import Trade, yuan

STYLE = """body{font-family:system-ui,sans-serif;background:#f4f6f9;margin:0;color:#1f2329}
main{max-width:420px;margin:48px auto;background:#fff;border-radius:12px;padding:28px;box-shadow:0 2px 12px #0001}
h1{font-size:18px;margin:0 0 4px;color:#1677ff}p{margin:6px 0}.amount{font-size:32px;font-weight:600;margin:18px 0}
.note{font-size:13px;color:#646a73}form{display:inline}
button{font-size:16px;border-radius:8px;padding:10px 22px;border:1px solid #1677ff;margin:16px 8px 0 0;cursor:pointer}
.pay{background:#1677ff;color:#fff}.cancel{background:#fff;color:#1677ff}"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" '
        f'content="width=device-width,initial-scale=1"><title>{escape(title)}</title><style>{STYLE}</style>'
        f"</head><body><main>{body}</main></body></html>", status_code=status)


def wallet_page(trade: Trade) -> HTMLResponse:
    """The cashier: what is paid, to whom, with Pay and Cancel (posting to this gateway)."""
    token = escape(trade.wallet_token)
    return _page("支付宝 · Alipay (fake)", (
        '<h1>支付宝 Alipay <span class="note">(local fake wallet)</span></h1>'
        f'<p>{escape(trade.subject)}</p><p class="note">订单号 Order {escape(trade.out_trade_no)}</p>'
        f'<p class="amount">¥{yuan(trade.total_amount)}</p>'
        f'<form method="post" action="/wallet/{token}/pay"><button class="pay" type="submit">确认付款 Pay</button>'
        f'</form><form method="post" action="/wallet/{token}/cancel">'
        '<button class="cancel" type="submit">取消 Cancel</button></form>'
        '<p class="note">No money moves: this wallet is a local test double of Alipay.</p>'))


def message_page(title: str, text: str, status: int = 200) -> HTMLResponse:
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(text)}</p>", status)
