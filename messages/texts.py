"""A message's words in the recipient's language (en, zh, ko): a subject and a body per kind, filled
from the message's params. Rendered when read or sent, so the words follow the recipient's language."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.i18n import DEFAULT, LANGUAGES

_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "drop_open": ("{drop_name} is on sale now", "{drop_name} is on sale now. Open the drop: {link}"),
        "admitted": ("Your turn: {drop_name}", "It is your turn to buy {drop_name} until {until}. {link}"),
        "waitlist_hold": ("A unit of {drop_name} is held for you",
                          "A unit of {drop_name} came back and is held for you until {until}. {link}"),
        "payment_received": ("Payment received: order {order_number}",
                             "We received your payment for order {order_number} ({drop_name}). {link}"),
        "fcode_given": ("{given_by} gave you an F-code", "{given_by} gave you the F-code {code}. {link}"),
        "draw_result": ("The draw for {drop_name}", "The draw for {drop_name} is made: {result}. {link}"),
        "operator_message": ("About {drop_name}", "{text}"),
        "_footer": ("", "Stop these emails: {unsubscribe}"),
    },
    "zh": {
        "drop_open": ("{drop_name} 现已开售", "{drop_name} 现已开售。打开活动页面：{link}"),
        "admitted": ("轮到您了：{drop_name}", "现在轮到您购买 {drop_name}，截止 {until}。{link}"),
        "waitlist_hold": ("为您保留了一件 {drop_name}", "有一件 {drop_name} 退回，为您保留至 {until}。{link}"),
        "payment_received": ("已收到付款：订单 {order_number}",
                             "我们已收到订单 {order_number}（{drop_name}）的付款。{link}"),
        "fcode_given": ("{given_by} 送给您一个 F 码", "{given_by} 送给您 F 码 {code}。{link}"),
        "draw_result": ("{drop_name} 抽签结果", "{drop_name} 已抽签：{result}。{link}"),
        "operator_message": ("关于 {drop_name}", "{text}"),
        "_footer": ("", "不再接收这些邮件：{unsubscribe}"),
    },
    "ko": {
        "drop_open": ("{drop_name} 판매 시작", "{drop_name} 판매가 시작되었습니다. 드롭 열기: {link}"),
        "admitted": ("차례가 되었습니다: {drop_name}", "{until}까지 {drop_name}을(를) 구매할 수 있습니다. {link}"),
        "waitlist_hold": ("{drop_name} 1개가 보류되었습니다",
                          "돌아온 {drop_name} 1개가 {until}까지 회원님을 위해 보류됩니다. {link}"),
        "payment_received": ("결제 완료: 주문 {order_number}",
                             "주문 {order_number}({drop_name})의 결제를 받았습니다. {link}"),
        "fcode_given": ("{given_by}님이 F-코드를 보냈습니다", "{given_by}님이 F-코드 {code}을(를) 보냈습니다. {link}"),
        "draw_result": ("{drop_name} 추첨 결과", "{drop_name} 추첨 결과: {result}. {link}"),
        "operator_message": ("{drop_name} 안내", "{text}"),
        "_footer": ("", "이메일 수신 거부: {unsubscribe}"),
    },
}
assert set(_TEXTS) == set(LANGUAGES)
# A draw's result in words ("result" of a draw_result message: won, backup, lost, or a backup's turn).
_DRAW_RESULTS: dict[str, dict[str, str]] = {
    "en": {"won": "you won, buy before {until}", "backup": "you are backup number {rank}",
           "lost": "not this time", "turn": "a win passed to you, buy before {until}"},
    "zh": {"won": "你中签了，请在 {until} 前购买", "backup": "你是第 {rank} 位候补",
           "lost": "很遗憾未中签", "turn": "中签资格已递补给你，请在 {until} 前购买"},
    "ko": {"won": "당첨되었습니다. {until} 전에 구매하세요", "backup": "예비 {rank}번입니다",
           "lost": "아쉽게도 당첨되지 않았습니다", "turn": "당첨이 회원님께 넘어왔습니다. {until} 전에 구매하세요"},
}
assert set(_DRAW_RESULTS) == set(LANGUAGES)


class _Blank(dict[str, str | int]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Words:
    subject: str
    body: str


def render(kind: str, params: Mapping[str, str | int], language: str) -> Words:
    texts = _TEXTS.get(language, _TEXTS[DEFAULT])
    subject, body = texts.get(kind) or _TEXTS[DEFAULT]["operator_message"]
    values = _Blank(params)
    if kind == "draw_result":
        results = _DRAW_RESULTS.get(language, _DRAW_RESULTS[DEFAULT])
        values["result"] = results.get(str(params.get("result", "")), str(params.get("result", ""))).format_map(values)
    return Words(subject.format_map(values).strip(), body.format_map(values).strip())


def footer(language: str, unsubscribe: str) -> str:
    return _TEXTS.get(language, _TEXTS[DEFAULT])["_footer"][1].format(unsubscribe=unsubscribe)
